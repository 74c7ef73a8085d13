"""Injectable time, so tests can move the clock of a running service.

Services take a :class:`Clock` instead of calling ``datetime.now``. In
production it is the system clock. When ``CRM_CLOCK_FILE`` names a file
(tests only), the file holds an offset in seconds to add to the real time,
e.g. ``7776000`` to live 90 days in the future; a test writes it and every
process that shares the file moves together. Time keeps flowing, so timers and
timeouts behave normally.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class OffsetFileClock:
    """Real time plus the offset (seconds) written in ``path``; 0 when absent."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def offset(self) -> timedelta:
        try:
            return timedelta(seconds=float(self.path.read_text().strip() or 0))
        except (FileNotFoundError, ValueError):
            return timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset()

    def advance(self, delta: timedelta) -> None:
        """Move this clock (and every process reading the same file) forward."""
        total = self.offset() + delta
        self.path.write_text(str(total.total_seconds()))


class FixedClock:
    """A clock that only moves when told (unit tests)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


def clock_from_env() -> Clock:
    path = os.environ.get("CRM_CLOCK_FILE")
    return OffsetFileClock(Path(path)) if path else SystemClock()
