"""The sweeper's pause: until the earliest due moment, and never so long that a moment
set meanwhile (a consumer, a fill bringing next_change_at forward) waits for
SEGMENT_SWEEP_SECONDS."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from crm_segment.handlers import sweep

NOW = datetime(2026, 12, 8, tzinfo=UTC)


def _ctx(sweep_seconds: float) -> Any:
    @asynccontextmanager
    async def transaction() -> AsyncIterator[None]:
        yield None

    return SimpleNamespace(
        settings=SimpleNamespace(service=SimpleNamespace(sweep_seconds=sweep_seconds)),
        db=SimpleNamespace(transaction=transaction),
        clock=SimpleNamespace(now=lambda: NOW),
    )


async def _first_pause(monkeypatch: pytest.MonkeyPatch, earliest: datetime | None) -> float:
    """How long run_forever sleeps after its first pass (SEGMENT_SWEEP_SECONDS 60)."""
    pauses: list[float] = []

    async def chores(*_: Any) -> int:
        return 0

    async def due(_: Any) -> datetime | None:
        return earliest

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        raise asyncio.CancelledError

    monkeypatch.setattr(sweep, "sweep_once", chores)
    monkeypatch.setattr(sweep, "sweep_due", chores)
    monkeypatch.setattr(sweep.profile_repo, "earliest_due", due)
    fake = SimpleNamespace(sleep=sleep, CancelledError=asyncio.CancelledError)
    monkeypatch.setattr(sweep, "asyncio", fake)
    with pytest.raises(asyncio.CancelledError):
        await sweep.run_forever(_ctx(60))
    [pause] = pauses
    return pause


async def test_nothing_due_the_sweeper_looks_again_within_five_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await _first_pause(monkeypatch, None) == sweep.MAX_PAUSE == 5.0


async def test_the_sweeper_sleeps_until_the_earliest_due_moment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert await _first_pause(monkeypatch, NOW + timedelta(seconds=2)) == 2.0
    assert await _first_pause(monkeypatch, NOW + timedelta(minutes=5)) == 5.0
    assert await _first_pause(monkeypatch, NOW - timedelta(seconds=1)) == sweep.MIN_PAUSE
