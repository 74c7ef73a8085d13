"""The discriminated union of every event type, JSON codec and upcasters."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Union

import orjson
from pydantic import Field, TypeAdapter, ValidationError

from crm_common.events import commerce, customers, downstream, loyalty, tenancy

_EVENT_CLASSES = (
    commerce.OrderPlaced,
    commerce.OrderUpdated,
    commerce.OrderPaid,
    commerce.OrderFulfilled,
    commerce.OrderCancelled,
    commerce.OrderRefunded,
    commerce.CheckoutStarted,
    commerce.CheckoutUpdated,
    commerce.CartUpdated,
    commerce.SubscriptionStarted,
    commerce.SubscriptionCancelled,
    commerce.CustomEvent,
    customers.CustomerUpserted,
    customers.CustomerDeleted,
    customers.ConsentChanged,
    customers.PrivacyRedactRequested,
    customers.PrivacyExportRequested,
    customers.TenantRedactRequested,
    customers.TenantUninstalled,
    downstream.ProfileChanged,
    downstream.ProfileMerged,
    downstream.ProfileActivity,
    downstream.SegmentEntered,
    downstream.SegmentExited,
    downstream.MessageQueued,
    downstream.MessageSent,
    downstream.MessageDelivered,
    downstream.MessageFailed,
    downstream.MessageSkipped,
    downstream.MessageHeld,
    downstream.MessageOpened,
    downstream.MessageClicked,
    downstream.MessageUnsubscribed,
    downstream.MessageBounced,
    downstream.MessageComplained,
    downstream.CallOutcomeRecorded,
    loyalty.RankChanged,
    tenancy.TenantConfigured,
)

Event = Annotated[Union[_EVENT_CLASSES], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007
"""Any canonical event; pydantic picks the class from ``type``."""

EVENT_TYPES: dict[str, type[Any]] = {
    cls.model_fields["type"].default: cls for cls in _EVENT_CLASSES
}
CURRENT_VERSION: dict[str, int] = dict.fromkeys(EVENT_TYPES, 1)

_adapter: TypeAdapter[Any] = TypeAdapter(Event)
_VALIDATE: dict[str, Callable[[Any], Any]] = {
    kind: cls.__pydantic_validator__.validate_python for kind, cls in EVENT_TYPES.items()
}
"""Each type's own validator (what the union calls once it has found the class)."""

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_upcasters: dict[tuple[str, int], Upcaster] = {}


class EventDecodeError(ValueError):
    """Bytes that are not a valid canonical event; ``reason`` says why and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def register_upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function that turns a ``from_version`` payload into the next version.

    Breaking changes add a version and an upcaster instead of editing old events,
    so old records on a topic (or in a replay) still decode.
    """

    def decorator(fn: Upcaster) -> Upcaster:
        _upcasters[(event_type, from_version)] = fn
        CURRENT_VERSION[event_type] = max(CURRENT_VERSION.get(event_type, 1), from_version + 1)
        return fn

    return decorator


def upcast(payload: dict[str, Any]) -> dict[str, Any]:
    """Apply registered upcasters until the payload is at the current version."""
    event_type = payload.get("type")
    version = payload.get("schema_version", 1)
    while isinstance(event_type, str) and isinstance(version, int):
        step = _upcasters.get((event_type, version))
        if step is None:
            break
        payload = step(payload)
        version += 1
        payload["schema_version"] = version
    return payload


def parse_event(payload: dict[str, Any]) -> Any:
    """Validate a dict into its event class (after upcasting).

    The class is picked from ``type`` and validated with its own validator: the
    union's tag search and a copy of the payload are skipped. That is exactly what
    the union does with a dict whose ``type`` names a class, as long as no upcaster
    applies (``libs/common/tests/test_common_event_decoding.py`` holds every event type to it).
    Anything else (an old version, an unknown or missing ``type``, an invalid
    field) goes through the union, so a bad record gets the same reason as before.
    """
    event = _direct(payload)
    if event is not None:
        return event
    return _parse_via_union(payload)


def _direct(payload: dict[str, Any]) -> Any:
    """The event validated by the class ``type`` names, or None (take the union)."""
    kind = payload.get("type")
    validate = _VALIDATE.get(kind) if isinstance(kind, str) else None
    if validate is None:
        return None
    version = payload.get("schema_version", 1)
    if isinstance(version, int) and (kind, version) in _upcasters:
        return None
    try:
        return validate(payload)
    except ValidationError:
        return None  # the union says why, with the paths it has always given


def _parse_via_union(payload: dict[str, Any]) -> Any:
    try:
        return _adapter.validate_python(upcast(dict(payload)))
    except ValidationError as exc:
        raise EventDecodeError(format_validation_error(exc)) from exc


def decode_event(raw: bytes) -> Any:
    """Bytes from Kafka to an event object; raises :class:`EventDecodeError`."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise EventDecodeError(f"not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise EventDecodeError("not a JSON object")
    return parse_event(payload)


def encode_event(event: Any) -> bytes:
    """An event object to compact JSON bytes (Decimals as strings, UTC ISO timestamps)."""
    return orjson.dumps(event.model_dump(mode="json", by_alias=True))


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``path.to.field: message``."""
    parts = []
    for err in exc.errors(include_url=False):
        path = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{path}: {err['msg']}")
    return "; ".join(parts)
