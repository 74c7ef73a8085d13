"""Deterministic message ids and provider idempotency keys.

One message id per (source, profile, channel): a redelivered trigger, a
replayed journey step or a retried campaign batch derives the same id, so the
message table's primary key makes the send happen once.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from crm_common.events import stable_event_id
from crm_common.events.customers import Channel
from crm_messaging.domain.errors import InvalidIdentifier

SourceKind = Literal["journey", "campaign", "transactional", "manual"]
"""Matches ``MessageData.source_kind`` of the canonical message events."""

_SEPARATOR = "/"


def journey_source_id(journey_id: str, step_id: str, run_id: str) -> str:
    """``journey/step/run`` as the source id of a journey message.

    Parts must be non-empty and free of ``/`` so that two different triples can
    never produce the same source id.
    """
    parts = (journey_id, step_id, run_id)
    for part in parts:
        if not part or _SEPARATOR in part:
            raise InvalidIdentifier(f"journey id parts must be non-empty without '/': {part!r}")
    return _SEPARATOR.join(parts)


def message_id(source_kind: SourceKind, source_id: str, profile_id: str, channel: Channel) -> str:
    """A UUIDv5 string, the same for the same (source kind, source id, profile, channel)."""
    if not source_id or not profile_id:
        raise InvalidIdentifier("source_id and profile_id must be non-empty")
    return stable_event_id("message", source_kind, source_id, profile_id, Channel(channel).value)


def idempotency_key(message_id: str, provider: str) -> str:
    """The key sent to a provider that dedupes retries (``crm-`` + 40 hex chars).

    Every attempt of one message uses the same key, so a retry after a timeout
    never sends twice. Scoped by provider so that failing over to another
    provider is not mistaken for a duplicate; hashed so that the internal id
    is not exposed and the key fits the usual 64-character limits.
    """
    if not message_id or not provider:
        raise InvalidIdentifier("message_id and provider must be non-empty")
    digest = hashlib.sha256(f"{provider}\x1f{message_id}".encode()).hexdigest()
    return f"crm-{digest[:40]}"


def lifecycle_event_id(message_id: str, event_type: str, *discriminators: str) -> str:
    """Stable ``event_id`` for a ``message.*`` event; discriminators tell repeats apart
    (e.g. the provider's event id for each open)."""
    return stable_event_id("message-event", message_id, event_type, *discriminators)
