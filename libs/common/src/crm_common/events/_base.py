"""Envelope fields shared by every canonical event, and the value types they use."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
)

from crm_common.inputs import FIRST_DAY, LAST_DAY, off_calendar

_EVENT_NAMESPACE = uuid.UUID("5b7f0d1e-8c3a-4f7e-9d1b-2a6c4e8f0a13")


_NAMESPACE_BYTES = _EVENT_NAMESPACE.bytes


def stable_event_id(*parts: str) -> str:
    """An id that is the same every time the same real-world fact is described.

    Used so that a redelivered webhook, a replayed import row or a client retry
    produce one canonical event: derive it from the source's own identifiers.

    The value is ``str(uuid.uuid5(namespace, "\\x1f".join(parts)))``, computed
    without the ``UUID`` object (a quarter of the time; ids are made for every
    event and every fact told, and must never change).
    """
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\x1f".join(parts).encode()).digest())
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = digest[:16].hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def short_hash(value: str) -> str:
    """A short, non-reversible fingerprint (for logs and keys that must not leak PII)."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def _to_utc(value: datetime) -> datetime:
    try:
        utc: datetime | None = value.astimezone(UTC)
    except OverflowError:  # year 1 east of UTC, year 9999 west of it
        utc = None
    if utc is None or off_calendar(utc):
        # Beyond it, a consumer's day arithmetic (or asyncpg) would fail on the event.
        raise ValueError(f"must be between the years {FIRST_DAY.year} and {LAST_DAY.year} in UTC")
    return utc


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""An aware timestamp, normalised to UTC; naive timestamps are rejected, and so are
timestamps whose UTC is not within years 2 to 9998 (:mod:`crm_common.inputs`)."""

DecimalStr = Annotated[
    Decimal,
    PlainSerializer(lambda d: format(d, "f"), return_type=str, when_used="json"),
]
"""A Decimal that travels as a string in JSON (money never becomes a float)."""


class Frozen(BaseModel):
    """Base for immutable value objects and events."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Money(Frozen):
    amount: DecimalStr
    currency: str = Field(min_length=3, max_length=3, pattern="^[A-Z]{3}$")


class Identity(Frozen):
    """Whatever the source knows about who the event is about.

    ``external_ids`` maps a platform (``shopify``, ``futureshop``, ``makeshop``,
    ``ec-cube`` ...) to that platform's customer id.
    """

    email: str | None = None
    phone: str | None = None
    external_ids: dict[str, str] = Field(default_factory=dict)
    anonymous_id: str | None = None
    cart_token: str | None = None
    checkout_token: str | None = None

    def is_empty(self) -> bool:
        return not (
            self.email
            or self.phone
            or self.external_ids
            or self.anonymous_id
            or self.cart_token
            or self.checkout_token
        )


class EnvelopeBase(Frozen):
    """The canonical envelope. Each event type narrows ``type`` and ``data``."""

    event_id: str = Field(min_length=1, max_length=200)
    schema_version: int = 1
    tenant_id: str = Field(min_length=1, max_length=64)
    source: str = Field(min_length=1, max_length=64)
    occurred_at: UtcDatetime
    received_at: UtcDatetime
    identity: Identity = Field(default_factory=Identity)

    def partition_key(self) -> str:
        """``tenant:best identity`` so that one customer's records share a partition."""
        return f"{self.tenant_id}:{best_identity(self.identity)}"


def best_identity(identity: Identity) -> str:
    """The strongest identifier: platform id, else email, else phone, else tokens."""
    if identity.external_ids:
        platform = sorted(identity.external_ids)[0]
        return f"{platform}:{identity.external_ids[platform]}"
    for value in (
        identity.email,
        identity.phone,
        identity.cart_token,
        identity.checkout_token,
        identity.anonymous_id,
    ):
        if value:
            return value
    return "-"


def utcnow() -> datetime:
    return datetime.now(UTC)


JsonDict = dict[str, Any]
