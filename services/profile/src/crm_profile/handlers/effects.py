"""What each canonical event does to the profiles of one batch.

Every effect is convergent: facts are folded with the domain reducers (any
order, duplicates harmless) and traits are recomputed from the stored facts
afterwards (:mod:`crm_profile.handlers.publish`), never incremented.

Decisions:

* An order or contract that already belongs to a profile stays with it; the
  event's new identifiers are attached to that profile (never a merge with
  another known record; anonymous records the event reaches through a token
  are the same person and fold in, as they would had it arrived first). An
  order event without any identifier (a refund keyed only by its order id)
  finds its profile through the stored order; one that arrives before its
  order is kept as an ownerless fact and joins the profile with the order.
* ``customer.deleted`` (Shopify ``customers/delete``) marks the record deleted
  (``deleted`` in the snapshot, so segments can exclude it) and keeps orders,
  identifiers and attributes: deleting the platform account is not an erasure
  request. Erasure is ``privacy.redact_requested`` (Shopify ``customers/redact``,
  ``DELETE /v1/profiles/{id}``): personal attributes are erased by the domain's
  ``redact`` (later-arriving older writes stay erased), email and phone
  identifiers are deleted, orders and traits (anonymous aggregates) stay.
  Neither ever creates or merges a record.
* ``tenant.redact_requested`` (Shopify ``shop/redact``) deletes every row of the
  tenant in the profile schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from crm_profile import metrics
from crm_profile.domain import (
    IdentifierKind,
    Stamp,
    apply_consent_event,
    apply_customer_event,
    apply_order_event,
    apply_subscription_event,
    engagement_fact_of,
    redact,
)
from crm_profile.handlers import identity
from crm_profile.handlers.batch import Profile, TenantBatch
from crm_profile.handlers.summaries import summary_of
from crm_profile.repository import loyalty as loyalty_repo
from crm_profile.repository import records

Effect = Callable[[TenantBatch, Any], Awaitable[bool]]
ORDER_TYPES = ("order.placed", "order.updated", "order.paid", "order.fulfilled", "order.cancelled")
TOUCH_TYPES = ("checkout.started", "checkout.updated", "cart.updated", "custom")
CONSENT_MESSAGES = ("message.unsubscribed", "message.bounced", "message.complained")
OTHER_MESSAGES = (
    "message.queued",
    "message.sent",
    "message.delivered",
    "message.failed",
    "message.skipped",
    "message.held",
    "message.opened",
    "message.clicked",
    "message.call_outcome",
)


async def apply_event(batch: TenantBatch, event: Any) -> None:
    effect = _EFFECTS.get(event.type)
    if effect is None:
        metrics.EVENTS_SKIPPED.labels("not_for_profiles").inc()
        return
    if await effect(batch, event):
        metrics.EVENTS_APPLIED.labels(event.type).inc()
        batch.applied += 1
    else:
        metrics.EVENTS_SKIPPED.labels("no_profile").inc()


def record(batch: TenantBatch, profile: Profile | None, event: Any) -> None:
    """Add the event to the profile's timeline (ownerless: adopted with its order)."""
    row = {
        "tenant_id": batch.tenant_id,
        "event_id": event.event_id,
        "profile_id": profile.profile_id if profile else None,
        "type": event.type,
        "occurred_at": event.occurred_at,
        "source": event.source,
        "summary": summary_of(event),
    }
    batch.timeline.append(row)
    batch.activity.append((row, event))


async def _holder_or_resolved(
    batch: TenantBatch, holder_id: str | None, event: Any
) -> Profile | None:
    holder = await batch.by_id(holder_id) if holder_id else None
    if holder is None:
        return await identity.resolve(batch, event, event.occurred_at)
    profile = await identity.attach_to_holder(batch, holder, event)
    profile.seen_at(event.occurred_at)
    return profile


async def _order(batch: TenantBatch, event: Any) -> bool:
    held = await batch.order(event.data.order_id)
    profile = await _holder_or_resolved(batch, held.profile_id, event)
    # Stored ownerless events of this order (a refund before it) exist only if its
    # fact does; they join the profile when the batch is written.
    ownerless_before = held.profile_id is None and held.fact is not None
    held.fact = apply_order_event(held.fact, event)
    held.dirty = True
    record(batch, profile, event)
    if profile is not None:
        if ownerless_before:
            batch.adopt[held.key] = profile.profile_id
        held.profile_id = profile.profile_id
        profile.touched = True
    return True  # an ownerless order fact is still applied


async def _subscription(batch: TenantBatch, event: Any) -> bool:
    held = await batch.subscription(event.data.contract_id)
    profile = await _holder_or_resolved(batch, held.profile_id, event)
    if profile is None:
        return False
    held.fact = apply_subscription_event(held.fact, event)
    held.profile_id = profile.profile_id
    held.dirty = profile.touched = True
    record(batch, profile, event)
    return True


async def _customer(batch: TenantBatch, event: Any) -> bool:
    profile = await identity.resolve(batch, event, event.occurred_at)
    if profile is None:
        return False
    _set(profile, "attributes", apply_customer_event(profile.attributes, event))
    _set(profile, "permissions", apply_consent_event(profile.permissions, event))
    record(batch, profile, event)
    return True


async def _consent(batch: TenantBatch, event: Any) -> bool:
    profile = await identity.resolve(batch, event, event.occurred_at)
    if profile is None:
        return False
    _set(profile, "permissions", apply_consent_event(profile.permissions, event))
    record(batch, profile, event)
    return True


async def _touch(batch: TenantBatch, event: Any) -> bool:
    profile = await identity.resolve(batch, event, event.occurred_at)
    if profile is None:
        return False
    record(batch, profile, event)
    return True


async def _message(batch: TenantBatch, event: Any) -> bool:
    profile = await batch.by_id(event.data.profile_id)
    if profile is None:
        return False
    fact = engagement_fact_of(event)
    if fact is not None:
        batch.engagement.append(
            {
                "tenant_id": batch.tenant_id,
                "event_id": event.event_id,
                "profile_id": profile.profile_id,
                "fact": fact.model_dump(mode="json"),
            }
        )
        profile.touched = True
    if event.type in CONSENT_MESSAGES:
        _set(profile, "permissions", apply_consent_event(profile.permissions, event))
    record(batch, profile, event)
    return True


async def _deleted(batch: TenantBatch, event: Any) -> bool:
    found = await identity.owners(batch, event)
    for profile in found:
        if profile.deleted_at is None or event.occurred_at < profile.deleted_at:
            profile.deleted_at = event.occurred_at
            profile.changed = True
        record(batch, profile, event)
    return bool(found)


async def _redact(batch: TenantBatch, event: Any) -> bool:
    found = await identity.owners(batch, event)
    through = Stamp(at=event.occurred_at, occurred_at=event.occurred_at, event_id=event.event_id)
    for profile in found:
        await erase(batch, profile, through)
        record(batch, profile, event)
    return bool(found)


async def erase(batch: TenantBatch, profile: Profile, through: Stamp) -> None:
    """Erase personal data held for ``profile`` as of ``through``."""
    profile.attributes = redact(profile.attributes, through)
    gone = {i for i in profile.identifiers if i.kind in _PERSONAL_KINDS}
    await records.delete_identifiers(
        batch.session, batch.tenant_id, profile.profile_id, _PERSONAL_KINDS
    )
    for ident in gone:  # claimed in this batch, not written yet: never written
        batch.claims.pop(ident, None)
    await records.forget_published_api_events(batch.session, batch.tenant_id, profile.profile_id)
    await loyalty_repo.forget_reasons(batch.session, batch.tenant_id, profile.profile_id)
    profile.identifiers -= gone
    for ident in gone:
        batch.owner.pop(ident, None)
    if profile.redacted_at is None or through.at > profile.redacted_at:
        profile.redacted_at = through.at
    profile.changed = True
    metrics.REDACTIONS.inc()


async def _tenant_redact(batch: TenantBatch, event: Any) -> bool:
    await records.erase_tenant(batch.session, batch.tenant_id)
    batch.reset()
    return True


def _set(profile: Profile, name: str, value: Any) -> None:
    if getattr(profile, name) != value:
        setattr(profile, name, value)
        profile.changed = True


_PERSONAL_KINDS = (IdentifierKind.EMAIL, IdentifierKind.PHONE)
_EFFECTS: dict[str, Effect] = {
    **dict.fromkeys(ORDER_TYPES, _order),
    "order.refunded": _order,
    "subscription.started": _subscription,
    "subscription.cancelled": _subscription,
    "customer.upserted": _customer,
    "consent.changed": _consent,
    "customer.deleted": _deleted,
    "privacy.redact_requested": _redact,
    "tenant.redact_requested": _tenant_redact,
    **dict.fromkeys(TOUCH_TYPES, _touch),
    **dict.fromkeys(CONSENT_MESSAGES + OTHER_MESSAGES, _message),
}
