"""The injectable clock that every send-time decision reads.

``SystemClock`` in production. ``FakeClock`` for in-process tests (set or
advance it). ``FileClock`` for a real process under test: the file named by
``MESSAGING_FAKE_CLOCK_FILE`` holds an ISO instant, and time runs on from it
(``now = instant + (real time since the file was written)``), so a test moves
the service's clock by rewriting the file.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


class FileClock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._cache: tuple[float, datetime] | None = None

    def now(self) -> datetime:
        try:
            mtime = os.stat(self.path).st_mtime
        except OSError:
            return datetime.now(UTC)
        if self._cache is None or self._cache[0] != mtime:
            with open(self.path, encoding="utf-8") as handle:
                base = datetime.fromisoformat(handle.read().strip()).astimezone(UTC)
            self._cache = (mtime, base)
        return self._cache[1] + timedelta(seconds=max(0.0, time.time() - mtime))


def clock_from_settings(fake_clock_file: str | None) -> Clock:
    return FileClock(fake_clock_file) if fake_clock_file else SystemClock()
