from __future__ import annotations

import base64
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
    ) -> DeadLetter:
        return cls(
            consumer=consumer,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key.decode(errors="replace") if key is not None else None,
            value_b64=base64.b64encode(value).decode(),
            headers=[(k, base64.b64encode(v).decode()) for k, v in headers],
            error=error[:4000],
            attempts=attempts,
            failed_at=failed_at or utcnow(),
        )

    @property
    def value(self) -> bytes:
        return base64.b64decode(self.value_b64)

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, base64.b64decode(v)) for k, v in self.headers]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


def dead_letter_from_bytes(raw: bytes) -> DeadLetter:
    return DeadLetter.model_validate_json(raw)
