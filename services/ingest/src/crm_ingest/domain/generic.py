"""The generic cart event API (futureshop, MakeShop, EC-CUBE, custom carts).

A client sends events in the canonical shape without the envelope fields it does
not own::

    {"event_id": "<client id>", "type": "order.placed", "occurred_at": "...+09:00",
     "identity": {"email": ..., "external_ids": {"makeshop": "123"}}, "data": {...}}

``tenant_id`` and ``source`` come from the API key. The canonical event id names
the business fact (:mod:`.facts`: the order id for ``order.placed``, a digest of
the stated state and its ``occurred_at`` for updates), not the client's id, so a
client retry, and the same order sent again under another client id or imported by
CSV from the same platform, is one fact; ``custom`` events, which have no business
key, are named by the client's id. An order has at most
:data:`~.limits.MAX_ORDER_LINES` lines. Problems are reported as
``(field path, message)`` pairs with pydantic's wording, list positions as
``[i]``: ``("data.lines[0].quantity", "Input should be greater than or equal to 0")``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from crm_common.events import EVENT_TYPES, Event
from crm_common.normalize import normalize_email, normalize_phone
from crm_ingest.domain.errors import BatchTooLarge, FieldError, InvalidEvent
from crm_ingest.domain.facts import with_fact_id
from crm_ingest.domain.limits import MAX_ORDER_LINES

MAX_BATCH = 1000

ACCEPTED_TYPES: frozenset[str] = frozenset(
    {
        "order.placed",
        "order.updated",
        "order.paid",
        "order.fulfilled",
        "order.cancelled",
        "order.refunded",
        "checkout.started",
        "checkout.updated",
        "cart.updated",
        "subscription.started",
        "subscription.cancelled",
        "custom",
        "customer.upserted",
        "customer.deleted",
        "consent.changed",
    }
)
"""Facts a cart may report; privacy, tenant and downstream events are not theirs."""

_CLIENT_KEYS = ("event_id", "type", "occurred_at", "identity", "data")
_ORDER_TYPES = frozenset(
    t for t in ACCEPTED_TYPES if t.startswith("order.") and t != "order.refunded"
)
# Japanese carts name order kinds in Japanese; OrderKind itself stays ASCII.
_KIND_ALIASES = {
    "通常": "regular",
    "定期": "subscription",
    "定期購入": "subscription",
    "頒布会": "hanpukai",
    "予約": "pre_order",
    "preorder": "pre_order",
    "pre-order": "pre_order",
}

Accepted = list[tuple[int, Any]]
Rejected = list[tuple[int, str, str]]


def parse_generic_event(
    item: object,
    *,
    tenant_id: str,
    source: str,
    received_at: datetime,
    default_region: str = "JP",
) -> Event:
    """One client event to a canonical event; raises :class:`InvalidEvent` listing
    every problem found. Emails and phones (identity and customer data) are
    normalized; phones without a country code are read in ``default_region``."""
    if not isinstance(item, Mapping):
        raise InvalidEvent([("(root)", "Input should be an object")])
    errors = _structure_errors(item)
    event_type = item.get("type")
    if errors or not isinstance(event_type, str):
        raise InvalidEvent(errors)
    identity, identity_errors = _clean_identity(item.get("identity"), default_region)
    data, data_errors = _clean_data(event_type, item.get("data"), default_region)
    payload = {
        "event_id": "-",  # the fact's id, set below
        "tenant_id": tenant_id,
        "source": source,
        "received_at": received_at,
        "occurred_at": item.get("occurred_at"),
        "identity": identity,
        "data": data,
    }
    event = _validate(EVENT_TYPES[event_type], payload, identity_errors + data_errors)
    told: Event = with_fact_id(event, stated_at=event.occurred_at, happening=str(item["event_id"]))
    return told


def parse_batch(
    items: Sequence[object],
    *,
    tenant_id: str,
    source: str,
    received_at: datetime,
    default_region: str = "JP",
) -> tuple[Accepted, Rejected]:
    """Validate up to :data:`MAX_BATCH` events independently (for a 207 report).

    Returns ``(accepted, rejected)``: ``(index, event)`` pairs and one
    ``(index, path, message)`` per problem. A repeated client ``event_id`` in the
    same batch as an accepted event is rejected at its later positions.
    """
    if len(items) > MAX_BATCH:
        raise BatchTooLarge(f"{len(items)} events in one batch; at most {MAX_BATCH} allowed")
    accepted: Accepted = []
    rejected: Rejected = []
    first_index: dict[str, int] = {}  # client id -> index of the accepted event
    for index, item in enumerate(items):
        client_id = _client_id(item)
        if client_id in first_index:
            message = f"Duplicate of the event at index {first_index[client_id]}"
            rejected.append((index, "event_id", message))
            continue
        try:
            event = parse_generic_event(
                item,
                tenant_id=tenant_id,
                source=source,
                received_at=received_at,
                default_region=default_region,
            )
        except InvalidEvent as exc:
            rejected.extend((index, path, message) for path, message in exc.errors)
            continue
        accepted.append((index, event))
        if client_id is not None:
            first_index[client_id] = index
    return accepted, rejected


def _client_id(item: object) -> str | None:
    client_id = item.get("event_id") if isinstance(item, Mapping) else None
    return client_id if isinstance(client_id, str) else None


def _structure_errors(item: Mapping[Any, Any]) -> list[FieldError]:
    errors: list[FieldError] = [
        (str(key), "Extra inputs are not permitted") for key in item if key not in _CLIENT_KEYS
    ]
    client_id = item.get("event_id")
    if client_id is None:
        errors.append(("event_id", "Field required"))
    elif not isinstance(client_id, str) or not 1 <= len(client_id) <= 200:
        errors.append(("event_id", "Input should be a string of 1 to 200 characters"))
    event_type = item.get("type")
    if event_type is None:
        errors.append(("type", "Field required"))
    elif event_type not in ACCEPTED_TYPES:
        expected = ", ".join(sorted(ACCEPTED_TYPES))
        errors.append(
            ("type", f"Unsupported event type {event_type!r}; expected one of {expected}")
        )
    return errors


def _clean_identity(value: object, region: str) -> tuple[object, list[FieldError]]:
    if not isinstance(value, Mapping):
        return value, []  # pydantic reports the type problem
    return _clean_contact(value, "identity", region)


def _clean_data(event_type: str, value: object, region: str) -> tuple[object, list[FieldError]]:
    if not isinstance(value, Mapping):
        return value, []
    data = dict(value)
    if event_type in _ORDER_TYPES and isinstance(data.get("kind"), str):
        data["kind"] = _KIND_ALIASES.get(data["kind"].strip().lower(), data["kind"].strip())
    lines = data.get("lines")
    if event_type in _ORDER_TYPES and isinstance(lines, list) and len(lines) > MAX_ORDER_LINES:
        message = f"{len(lines):,} lines; at most {MAX_ORDER_LINES:,} lines per order are accepted"
        return data, [("data.lines", message)]
    if event_type == "customer.upserted":
        return _clean_contact(data, "data", region)
    return data, []


def _clean_contact(
    value: Mapping[str, Any], path: str, region: str
) -> tuple[dict[str, Any], list[FieldError]]:
    cleaned, errors = dict(value), []
    email, phone = value.get("email"), value.get("phone")
    if isinstance(email, str):
        cleaned["email"] = normalize_email(email)
        if cleaned["email"] is None:
            errors.append((f"{path}.email", "Input should be a valid email address"))
    if isinstance(phone, str):
        cleaned["phone"] = normalize_phone(phone, region)
        if cleaned["phone"] is None:
            errors.append((f"{path}.phone", "Input should be a valid phone number"))
    return cleaned, errors


def _validate(cls: type[Any], payload: dict[str, Any], errors: list[FieldError]) -> Any:
    try:
        event = cls.model_validate(payload)
    except ValidationError as exc:
        raise InvalidEvent(errors + _pydantic_errors(exc)) from exc
    if errors:
        raise InvalidEvent(errors)
    if event.identity.is_empty():
        raise InvalidEvent(
            [
                (
                    "identity",
                    "At least one of email, phone, external_ids, anonymous_id, "
                    "cart_token or checkout_token is required",
                )
            ]
        )
    return event


def _pydantic_errors(exc: ValidationError) -> list[FieldError]:
    return [(format_loc(err["loc"]), err["msg"]) for err in exc.errors(include_url=False)]


def format_loc(loc: Sequence[int | str]) -> str:
    """``("data", "lines", 0, "sku")`` -> ``data.lines[0].sku``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(root)"
