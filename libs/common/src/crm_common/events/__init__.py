"""Canonical events: the envelope, one module per family, and the JSON codec.

Every event is a frozen pydantic model whose ``type`` selects its class::

    event = decode_event(raw_bytes)     # -> OrderPlaced, ConsentChanged, ...
    raw = encode_event(event)

Breaking changes get a new ``schema_version`` and an upcaster registered with
:func:`register_upcaster`, never an in-place edit.
"""

from crm_common.events._base import (
    DecimalStr,
    EnvelopeBase,
    Frozen,
    Identity,
    Money,
    UtcDatetime,
    best_identity,
    short_hash,
    stable_event_id,
    utcnow,
)
from crm_common.events._registry import (
    CURRENT_VERSION,
    EVENT_TYPES,
    Event,
    EventDecodeError,
    decode_event,
    encode_event,
    format_validation_error,
    parse_event,
    register_upcaster,
    upcast,
)
from crm_common.events.commerce import *  # noqa: F403
from crm_common.events.customers import *  # noqa: F403
from crm_common.events.downstream import *  # noqa: F403
from crm_common.events.tenancy import TenantConfig, TenantConfigured

__all__ = [
    "CURRENT_VERSION",
    "EVENT_TYPES",
    "DecimalStr",
    "EnvelopeBase",
    "Event",
    "EventDecodeError",
    "Frozen",
    "Identity",
    "Money",
    "TenantConfig",
    "TenantConfigured",
    "UtcDatetime",
    "best_identity",
    "decode_event",
    "encode_event",
    "format_validation_error",
    "parse_event",
    "register_upcaster",
    "short_hash",
    "stable_event_id",
    "upcast",
    "utcnow",
]
