"""One business fact, one canonical event, whatever delivered it.

A canonical event's id names the fact it tells, never the delivery (the webhook id,
the client's event id, the upload): the same ``orders/create`` body posted under two
``X-Shopify-Webhook-Id`` values, an order sent twice through the generic API under
two client ids, or imported by two CSV uploads, is ONE ``order.placed``. Deliveries
are still deduplicated where they arrive (webhook id, client id, row fingerprint);
this is what makes the different deliveries of one fact agree::

    stable_event_id(tenant_id, source, type, <what the fact is>)

What the fact is depends on its kind:

- Facts that happen once to their subject (:data:`ONCE`): the subject's id alone.
  An order is placed once, a refund made once, a checkout started once.
- Requests and happenings that have no subject or version in the payload
  (:data:`HAPPENINGS`: privacy requests, app lifecycle, custom events): the
  source's own id of the happening (Shopify's ``X-Shopify-Event-Id``, else the
  webhook id; the client's event id).
- Everything else states a subject's current state (``order.updated``/``paid``/
  ..., ``customer.upserted``, ``consent.changed``, ``cart.updated``): a digest of
  what is stated (identity and data) and of when the source says it was so
  (``stated_at``; None when only the delivery's clock is known, so a redelivery
  days later is still the same statement). The same state told twice is one
  event; a changed state, or the same state stated again later (subscribed,
  unsubscribed, subscribed), a new one.

Generic API events and CSV rows of one platform share the rule, so an order sent
live through the API and again in a history import is one order.

A fact may be told by several events (:func:`tellings`): an ``order.placed`` whose
placement was already told but whose content differs says the order's state
changed, so it is also told as an ``order.updated``. :func:`first_news` keeps, of
each fact's tellings, the first one not published before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel

from crm_common.events import EnvelopeBase, Identity, OrderPlaced, OrderUpdated, stable_event_id

E = TypeVar("E", bound=EnvelopeBase)

ONCE: dict[str, Callable[[Any], str]] = {
    "order.placed": lambda data: data.order_id,
    "order.refunded": lambda data: data.refund_id,
    "checkout.started": lambda data: data.checkout_token,
    "subscription.started": lambda data: data.contract_id,
    "subscription.cancelled": lambda data: data.contract_id,
    "customer.deleted": lambda data: data.customer_id,
}
"""Event type -> the id of the subject the fact happens to once."""

HAPPENINGS = frozenset(
    {
        "custom",
        "privacy.redact_requested",
        "privacy.export_requested",
        "tenant.uninstalled",
        "tenant.redact_requested",
    }
)
"""Types named by the source's own id of the happening: nothing in them tells two
requests with the same content apart (an app uninstalled twice is two facts)."""


def fact_id(event: EnvelopeBase, *, stated_at: datetime | None, happening: str | None) -> str:
    """The id of the fact ``event`` tells (see the module docstring).

    ``stated_at``: when the source says the state was so (None if it says nothing);
    ``happening``: the source's id of the happening, required for :data:`HAPPENINGS`.
    """
    return fact_id_of(
        event.type,  # type: ignore[attr-defined]
        event.tenant_id,
        event.source,
        event.identity,
        event.data,  # type: ignore[attr-defined]
        stated_at=stated_at,
        happening=happening,
    )


def fact_id_of(
    event_type: str,
    tenant_id: str,
    source: str,
    identity: Identity,
    data: BaseModel,
    *,
    stated_at: datetime | None,
    happening: str | None,
    data_json: Any = None,
) -> str:
    """:func:`fact_id` of an event made of these parts (before it is built, so it is
    built once, with its id). ``data_json``: ``data`` dumped in JSON mode, if known."""
    subject = ONCE.get(event_type)
    if subject is not None:
        return stable_event_id(tenant_id, source, event_type, "once", subject(data))
    if event_type in HAPPENINGS:
        if happening is None:
            raise ValueError(f"{event_type} needs the id of the happening")
        return stable_event_id(tenant_id, source, event_type, "happening", happening)
    digest = _digest(identity, data, stated_at, data_json)
    return stable_event_id(tenant_id, source, event_type, "state", digest)


def with_fact_id(event: E, *, stated_at: datetime | None, happening: str | None = None) -> E:
    """``event`` with its :func:`fact_id`."""
    event_id = fact_id(event, stated_at=stated_at, happening=happening)
    return event.model_copy(update={"event_id": event_id})


def state_digest(event: EnvelopeBase, stated_at: datetime | None) -> str:
    """Identifies what ``event`` states (identity and data, keys sorted) and when."""
    return _digest(event.identity, event.data, stated_at, None)  # type: ignore[attr-defined]


def _digest(identity: Identity, data: BaseModel, stated_at: datetime | None, data_json: Any) -> str:
    stated = {
        "identity": identity.model_dump(mode="json", exclude_defaults=True),
        "data": data.model_dump(mode="json") if data_json is None else data_json,
        "at": stated_at.isoformat() if stated_at is not None else None,
    }
    return hashlib.sha256(orjson.dumps(stated, option=orjson.OPT_SORT_KEYS)).hexdigest()


def order_state(placed: OrderPlaced, observed_at: datetime, data_json: Any = None) -> OrderUpdated:
    """A placement told again as the order's state: stamped with the order's
    ``updated_at``, else with ``observed_at`` (when this telling arrived), so that
    the later telling wins in the profile's last-writer-wins fold. ``data_json``:
    the order's data dumped in JSON mode, if known."""
    data = placed.data
    occurred_at = data.updated_at if data.updated_at is not None else observed_at
    event_id = fact_id_of(
        "order.updated",
        placed.tenant_id,
        placed.source,
        placed.identity,
        data,
        stated_at=data.updated_at,
        happening=None,
        data_json=data_json,
    )
    # Every part comes from the validated placement (and observed_at from our own
    # clock or database): built without validating it all again.
    return OrderUpdated.model_construct(
        event_id=event_id,
        schema_version=placed.schema_version,
        tenant_id=placed.tenant_id,
        source=placed.source,
        occurred_at=occurred_at.astimezone(UTC),
        received_at=placed.received_at,
        identity=placed.identity,
        data=data,
    )


@dataclass(frozen=True, slots=True)
class Told:
    """The events that can tell one fact, most specific first, and the first of
    them encoded (:func:`~crm_common.events.encode_event`) when that was made on
    the way, so it is not made again for the outbox."""

    events: tuple[Any, ...]
    payload: bytes | None = None


def told(event: Any, observed_at: datetime) -> Told:
    """:func:`tellings` of ``event``, with ``event`` encoded when it is an order
    (its data, dumped once, names the order's state too)."""
    if isinstance(event, OrderPlaced):
        doc = event.model_dump(mode="json", by_alias=True)
        state = order_state(event, observed_at, data_json=doc["data"])
        return Told((event, state), orjson.dumps(doc))
    return Told((event,))


def tellings(event: Any, observed_at: datetime) -> tuple[Any, ...]:
    """The events that can tell ``event``'s fact, most specific first."""
    return told(event, observed_at).events


def payloads(facts: Iterable[Told]) -> dict[int, bytes]:
    """``id(event) -> encoded event`` of the tellings already encoded (for
    :func:`crm_common.outbox.outbox_row`, while ``facts`` is alive)."""
    return {id(t.events[0]): t.payload for t in facts if t.payload is not None}


def first_news(groups: Iterable[Sequence[E]], fresh: set[str]) -> list[E]:
    """One event per fact: of each group of tellings, the first whose id is in
    ``fresh`` (ids not published before). Ids are used up in order, so a fact told
    twice in one request or file is published once."""
    unused = set(fresh)
    chosen: list[E] = []
    for group in groups:
        found = None
        for event in group:
            if found is None and event.event_id in unused:
                found = event
            unused.discard(event.event_id)
        if found is not None:
            chosen.append(found)
    return chosen
