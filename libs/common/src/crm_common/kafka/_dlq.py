"""The dead-letter format: what a consumer gave up on, and everything to replay it.

A letter always fits the DLQ topic: when the original record (base64 inside the
letter's JSON) would not, the letter keeps its size, SHA-256 and where it lives
(``topic``/``partition``/``offset``, or an outbox row) instead of its bytes, and
replay reads the original back from there.

A letter names the tenant whose record it holds (``tenant_id``: the envelope's or
raw record's ``tenant_id``, else the ``tenant:...`` key), so a tenant's console
lists and replays its own letters only; letters written before the field existed
fall back to their key (:attr:`DeadLetter.tenant`). Its error text has gone through
the log redaction (:func:`crm_common.logging.scrub`): no emails, phones or values
quoted by database and validation errors.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict

from crm_common.events import UtcDatetime, utcnow
from crm_common.logging import scrub

_TENANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PARSED_VALUE_BYTES = 1024 * 1024  # larger originals are named by their key alone


def tenant_of(key: bytes | str | None, value: bytes | None = None) -> str | None:
    """The tenant a record belongs to: ``tenant_id`` of its JSON value (canonical
    envelopes, raw records), else the first part of its ``tenant:...`` key; None for a
    record that names none (garbage, a foreign producer's)."""
    if value is not None and len(value) <= _PARSED_VALUE_BYTES:
        try:
            doc: Any = orjson.loads(value)
        except orjson.JSONDecodeError:
            doc = None
        named = doc.get("tenant_id") if isinstance(doc, dict) else None
        if isinstance(named, str) and _TENANT_ID.match(named):
            return named
    text = key.decode(errors="replace") if isinstance(key, bytes) else key
    first = (text or "").split(":", 1)[0]
    return first if _TENANT_ID.match(first) else None


class DeadLetter(BaseModel):
    """A record a consumer gave up on, with everything needed to replay it."""

    model_config = ConfigDict(frozen=True)

    consumer: str
    topic: str
    partition: int
    offset: int
    key: str | None
    value_b64: str
    headers: list[tuple[str, str]]
    error: str
    attempts: int
    failed_at: UtcDatetime
    value_bytes: int = 0
    value_sha256: str = ""
    # True when the original was too large to carry: read it back from
    # topic/partition/offset (partition -1: outbox row ``offset`` of schema ``consumer``).
    value_omitted: bool = False
    # None: the record names no tenant (only installation operators see the letter),
    # or the letter predates the field (see ``tenant``).
    tenant_id: str | None = None

    @classmethod
    def build(
        cls,
        *,
        consumer: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, bytes]],
        error: str,
        attempts: int,
        failed_at: datetime | None = None,
        max_bytes: int | None = None,
    ) -> DeadLetter:
        """The letter; with ``max_bytes``, the value is left out if it would not fit."""
        encoded = [(k, base64.b64encode(v).decode()) for k, v in headers]
        room = None if max_bytes is None else max_bytes - _ENVELOPE_BYTES
        header_bytes = sum(len(k) + len(v) for k, v in encoded)
        omit = room is not None and (len(value) + 2) // 3 * 4 + header_bytes > room
        if omit and room is not None and header_bytes > room // 2:
            encoded = []  # the original's headers go with its bytes
        return cls(
            consumer=consumer,
            topic=topic,
            partition=partition,
            offset=offset,
            key=(key.decode(errors="replace") if key is not None else None),
            value_b64="" if omit else base64.b64encode(value).decode(),
            headers=encoded,
            error=scrub(error)[:4000],
            attempts=attempts,
            failed_at=failed_at or utcnow(),
            value_bytes=len(value),
            value_sha256=hashlib.sha256(value).hexdigest(),
            value_omitted=omit,
            tenant_id=tenant_of(key, value),
        )

    @property
    def tenant(self) -> str | None:
        """The letter's tenant; for letters written before ``tenant_id`` existed, the
        one its key names."""
        return self.tenant_id or tenant_of(self.key)

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.value_b64)

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, base64.b64decode(v)) for k, v in self.headers]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


_ENVELOPE_BYTES = 32 * 1024  # every field but the value and headers: the error is <= 4000


def dead_letter_from_bytes(raw: bytes) -> DeadLetter:
    return DeadLetter.model_validate_json(raw)
