"""A tenant's send-time policy: consent model, frequency caps and quiet hours."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Literal, Self

from pydantic import Field, field_validator, model_validator

from crm_common.events import Frozen
from crm_common.events.customers import Channel
from crm_messaging.domain.clock import occurrences, wall, zone

Purpose = Literal["marketing", "transactional"]


class FrequencyCap(Frozen):
    """At most ``max_messages`` marketing messages within ``window``.

    ``channel=None`` caps all channels together.
    """

    channel: Channel | None
    max_messages: int = Field(ge=0)
    window: timedelta

    @field_validator("window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("window must be positive")
        return value


class QuietWindow(Frozen):
    """Local wall-clock hours ``[start, end)`` in which nothing is sent; may cross midnight."""

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.start == self.end:
            raise ValueError("quiet window start and end must differ")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("quiet window times are local wall-clock times, without tzinfo")
        return self

    @property
    def crosses_midnight(self) -> bool:
        return self.start > self.end

    def contains(self, local: time) -> bool:
        """True when the wall-clock time ``local`` lies inside the window."""
        if self.crosses_midnight:
            return local >= self.start or local < self.end
        return self.start <= local < self.end


_NIGHT = QuietWindow(start=time(21, 0), end=time(8, 0))


def _default_quiet_hours() -> dict[Channel, QuietWindow]:
    return {Channel.SMS: _NIGHT, Channel.LINE: _NIGHT, Channel.CALL: _NIGHT}


def _default_caps() -> tuple[FrequencyCap, ...]:
    return (FrequencyCap(channel=Channel.EMAIL, max_messages=2, window=timedelta(days=7)),)


class TenantPolicy(Frozen):
    """Send-time rules of one tenant.

    ``opt_in_channels``: marketing on these needs consent state ``subscribed``
    (特定電子メール法 makes this the law for email and SMS); on other channels
    marketing is allowed unless the person unsubscribed (opt-out, e.g. postal DM).
    ``quiet_hours_purposes``: which purposes wait for quiet hours to end
    (transactional messages such as shipping notices go out at once by default).
    """

    timezone: str = "Asia/Tokyo"
    frequency_caps: tuple[FrequencyCap, ...] = Field(default_factory=_default_caps)
    quiet_hours: dict[Channel, QuietWindow] = Field(default_factory=_default_quiet_hours)
    opt_in_channels: frozenset[Channel] = frozenset(Channel)
    quiet_hours_purposes: frozenset[Purpose] = frozenset({"marketing"})

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        zone(value)
        return value


def quiet_hours_release(window: QuietWindow, now: datetime, tz_name: str) -> datetime | None:
    """When the window next opens (UTC), or None if ``now`` (aware) is outside it.

    The release is the first instant after ``now`` whose wall-clock time has left
    the window: the window's end, or the end of a DST gap that skips past it,
    or its second occurrence in a repeated hour that ``now`` is already in.
    """
    tz = zone(tz_name)
    local = wall(now, tz)
    if not window.contains(local.time()):
        return None
    day = local.date()
    if window.crosses_midnight and local.time() >= window.start:
        day += timedelta(days=1)
    now_utc = now.astimezone(UTC)
    for offset in range(3):
        for instant in occurrences(day + timedelta(days=offset), window.end, tz):
            if instant > now_utc and not window.contains(wall(instant, tz).time()):
                return instant
    raise AssertionError("a quiet window always opens within three days")  # pragma: no cover
