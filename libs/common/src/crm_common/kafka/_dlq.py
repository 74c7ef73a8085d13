"""The dead-letter format: what a consumer gave up on, and everything to replay it.

A letter always fits the DLQ topic: when the original record (base64 inside the
letter's JSON) would not, the letter keeps its size, SHA-256 and where it lives
(``topic``/``partition``/``offset``, or an outbox row) instead of its bytes, and
replay reads the original back from there.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime

import orjson
from pydantic import BaseModel, ConfigDict

from crm_common.events import UtcDatetime, utcnow


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
            error=error[:4000],
            attempts=attempts,
            failed_at=failed_at or utcnow(),
            value_bytes=len(value),
            value_sha256=hashlib.sha256(value).hexdigest(),
            value_omitted=omit,
        )

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
