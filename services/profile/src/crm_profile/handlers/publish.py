"""End of a batch: facts written, traits recomputed, versions bumped, events enqueued.

One ``profile.changed`` per changed profile per batch, with the full snapshot
and ``version`` + 1; its event id is derived from ``(tenant, profile, version)``
so a replayed batch produces the same id. A profile counts as changed when its
snapshot, attributes, consents, identifiers or flags changed. Every profile
whose traits were recomputed gets ``traits_computed_at = batch.now`` (the
refresher in :mod:`crm_profile.handlers.refresh` goes through here too).
A profile whose RFM rank changed gets a ``rank_history`` row valid from
``batch.now`` (rank movement analytics).

Set-wise: the batch's new records and identifier claims, each kind of fact, the
timeline, the profiles and the outbox rows are written with one statement each
(``unnest`` arrays, whatever the batch size), and traits are recomputed once per
touched profile. ``profile.changed`` carries the typed snapshot (v2:
:class:`~crm_common.events.downstream.ProfileTraits` and ``ProfileContact``),
written as that model's JSON from already validated values (:mod:`.wire`).
"""

from __future__ import annotations

from typing import Any

import orjson

from crm_common.outbox import OutboxRow, enqueue_rows, outbox_row
from crm_profile import metrics
from crm_profile.config import PROFILES_TOPIC, SCHEMA
from crm_profile.domain import (
    Attributes,
    EngagementFact,
    OrderFact,
    SubscriptionFact,
    compute_traits,
)
from crm_profile.domain.snapshot import StoredAttributes, contact_values, snapshot_json
from crm_profile.handlers import loyalty, wire
from crm_profile.handlers.batch import Profile, TenantBatch
from crm_profile.handlers.identity import write_identity
from crm_profile.repository import due, rank_history, records
from crm_profile.repository import facts as fact_repo
from crm_profile.repository.facts import ProfileFacts


async def finish(batch: TenantBatch) -> list[Any]:
    """Write the batch back and enqueue its events; returns the events enqueued.

    Set-wise: new records and claims, each kind of fact, the profiles and the outbox
    are one statement each, and traits are recomputed once per touched profile.
    """
    await write_identity(batch)
    await _flush_facts(batch)
    candidates = sorted(
        (p for p in batch.profiles.values() if p.touched or p.changed), key=lambda p: p.profile_id
    )
    ids = [p.profile_id for p in candidates]
    stored = await fact_repo.facts_of(batch.session, batch.tenant_id, ids)
    entries = await loyalty.entries_for(batch, ids)
    rank_events = []
    rows: list[dict[str, Any]] = []
    events = [outbox_row(PROFILES_TOPIC, e) for e in batch.outgoing] + _activity_rows(batch)
    ranks: list[tuple[str, str | None]] = []  # rank_history rows: only actual changes
    unchanged: list[str] = []
    for profile in candidates:
        pid = profile.profile_id
        snapshot = snapshot_of(batch, profile, stored[pid], entries.get(pid, []))
        if snapshot == profile.traits and not profile.changed:
            unchanged.append(pid)
            continue
        if snapshot.get("rfm_rank") != profile.traits.get("rfm_rank"):
            ranks.append((pid, snapshot.get("rfm_rank")))
        if (rank_event := loyalty.rank_changed(batch, profile, snapshot)) is not None:
            rank_events.append(rank_event)
            events.append(loyalty.activity_row(batch, rank_event))
        profile.traits = snapshot
        profile.version += 1
        rows.append(_row(profile))
        events.append(_changed_row(batch, profile))
    await records.write_profiles(batch.session, batch.tenant_id, rows, computed_at=batch.now)
    await rank_history.record(batch.session, batch.tenant_id, ranks, batch.now)
    await loyalty.add_timeline(batch, rank_events)
    await due.mark_computed(batch.session, batch.tenant_id, unchanged, batch.now)
    await enqueue_rows(batch.session, SCHEMA, events)
    metrics.CHANGED.inc(len(rows))
    return events


def snapshot_of(
    batch: TenantBatch, profile: Profile, facts: ProfileFacts, entries: list[Any]
) -> dict[str, Any]:
    """The profile's snapshot (``ProfileTraits`` JSON), traits recomputed from its facts
    (loyalty traits too when the tenant has a programme)."""
    orders = _orders(batch, facts)
    traits = compute_traits(
        orders,
        [EngagementFact.model_validate(f) for f in facts.engagement],
        _subscriptions(batch, facts),
        batch.now,
        batch.thresholds,
    )
    previous = profile.traits.get("rfm_rank")
    if previous is not None and traits.rfm_rank != previous:
        profile.rfm_rank_previous = previous
    return snapshot_json(
        traits,
        _attributes_of(profile),
        profile.permissions,
        deleted=profile.deleted_at is not None,
        redacted=profile.redacted_at is not None,
        rfm_rank_previous=profile.rfm_rank_previous,
    ) | loyalty.traits_of(batch, profile, orders, entries)


def _orders(batch: TenantBatch, facts: ProfileFacts) -> list[OrderFact]:
    """The profile's order facts; those this batch holds are taken as held (parsed)."""
    out = []
    for key, raw in facts.orders.items():
        held = batch.orders.get(key)
        out.append(held.fact if held is not None and held.fact else OrderFact.model_validate(raw))
    return out


def _subscriptions(batch: TenantBatch, facts: ProfileFacts) -> list[SubscriptionFact]:
    out = []
    for key, raw in facts.subscriptions.items():
        held = batch.subscriptions.get(key)
        fact = held.fact if held is not None and held.fact else None
        out.append(fact or SubscriptionFact.model_validate(raw))
    return out


async def _flush_facts(batch: TenantBatch) -> None:
    orders = [
        {
            "order_id": h.key,
            "profile_id": batch.live(h.profile_id),
            "fact": h.fact.model_dump_json(),
            "placed_at": h.fact.details.placed_at if h.fact.details else None,
        }
        for h in batch.orders.values()
        if h.dirty
    ]
    subs = [
        {
            "contract_id": h.key,
            "profile_id": batch.live(h.profile_id),
            "fact": h.fact.model_dump_json(),
        }
        for h in batch.subscriptions.values()
        if h.dirty
    ]
    await fact_repo.write_orders(batch.session, batch.tenant_id, orders)
    await fact_repo.write_subscriptions(batch.session, batch.tenant_id, subs)
    adopted = {k: batch.live(p) for k, p in batch.adopt.items()}
    await fact_repo.adopt_timeline(
        batch.session, batch.tenant_id, {k: p for k, p in adopted.items() if p is not None}
    )
    for row in batch.engagement + batch.timeline:
        if row["profile_id"] is None:  # ownerless order event: its order's profile, if any
            held = batch.orders.get(row["summary"].get("order_id", ""))
            row["profile_id"] = held.profile_id if held else None
        row["profile_id"] = batch.live(row["profile_id"])
    await fact_repo.add_engagement(batch.session, _unique(batch.engagement))
    await fact_repo.add_timeline(batch.session, _unique(batch.timeline))


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per event id (a duplicate inside one INSERT would be an error)."""
    return list({r["event_id"]: r for r in rows}.values())


def _row(profile: Profile) -> dict[str, Any]:
    return {
        "profile_id": profile.profile_id,
        "created_at": profile.created_at,
        "version": profile.version,
        "deleted_at": profile.deleted_at,
        "redacted_at": profile.redacted_at,
        # None: unchanged, the stored value is kept (not rewritten, nor re-TOASTed)
        "attributes": _attributes_json(profile),
        "permissions": None
        if profile.permissions is profile.stored_permissions
        else profile.permissions.model_dump_json(),
        "traits": orjson.dumps(profile.traits).decode(),
        "rfm_rank_previous": profile.rfm_rank_previous,
    }


def _attributes_of(profile: Profile) -> Attributes | StoredAttributes:
    """The parsed attributes, or the stored JSON when nothing needed them parsed."""
    if profile.parsed_attributes is not None:
        return profile.parsed_attributes
    return StoredAttributes(profile.stored_attributes)


def _attributes_json(profile: Profile) -> str | None:
    if profile.parsed_attributes is None and not profile.new:
        return None
    return profile.attributes.model_dump_json()


def _changed_row(batch: TenantBatch, profile: Profile) -> OutboxRow:
    contact = contact_values(_attributes_of(profile))
    return wire.changed_row(
        PROFILES_TOPIC,
        batch.tenant_id,
        profile.profile_id,
        profile.version,
        batch.now,
        profile.traits,
        contact,
    )


def _activity_rows(batch: TenantBatch) -> list[OutboxRow]:
    """Each applied event, attributed to its (final) profile, before that profile's change.

    Segment (event conditions) and messaging (event triggers) act on these: only
    this service knows whose event it was. Ownerless events (a refund before its
    order) are not republished.
    """
    return [
        wire.activity_row(PROFILES_TOPIC, batch.tenant_id, row["profile_id"], batch.now, event)
        for row, event in batch.activity
        if row["profile_id"] is not None
    ]
