"""Lengths and ranges of time used by definitions: durations, windows, counts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, PlainSerializer, model_validator

from crm_common.events import Frozen
from crm_segment.domain.values import parse_instant

CountOp = Literal["=", "!=", "<", "<=", ">", ">="]

Instant = Annotated[
    datetime,
    BeforeValidator(parse_instant),
    PlainSerializer(lambda d: d.isoformat().replace("+00:00", "Z"), when_used="json"),
]


class Duration(Frozen):
    """A positive length of time, e.g. ``{"days": 90}``."""

    weeks: int = Field(default=0, ge=0, le=5200)
    days: int = Field(default=0, ge=0, le=36500)
    hours: int = Field(default=0, ge=0, le=876000)
    minutes: int = Field(default=0, ge=0, le=52560000)

    @model_validator(mode="after")
    def _positive(self) -> Duration:
        if self.as_timedelta() <= timedelta(0):
            raise ValueError("duration must be positive")
        return self

    def as_timedelta(self) -> timedelta:
        return timedelta(weeks=self.weeks, days=self.days, hours=self.hours, minutes=self.minutes)


class CountSpec(Frozen):
    op: CountOp = ">="
    value: int = Field(default=1, ge=0, le=1_000_000)


class Window(Frozen):
    """Either ``{"last": duration}`` or an absolute ``{"from": t, "to": t}`` (half-open)."""

    last: Duration | None = None
    from_: Instant | None = Field(default=None, alias="from")
    to: Instant | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Window:
        absolute = self.from_ is not None or self.to is not None
        if (self.last is None) == (not absolute):
            raise ValueError("window needs either last or from/to")
        if self.from_ is not None and self.to is not None and not self.from_ < self.to:
            raise ValueError("window from must be before to")
        return self
