"""Campaign status machine, send instant in the tenant's zone, throttle slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crm_messaging.handlers.campaigns_rules import (
    TransitionRefused,
    allowance,
    next_status,
    send_instant,
)

NOW = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
TICK = timedelta(seconds=0.5)


@pytest.mark.parametrize(
    ("action", "status", "frozen", "expected"),
    [
        ("schedule", "draft", False, "scheduled"),
        ("schedule", "scheduled", False, "scheduled"),
        ("pause", "scheduled", False, "paused"),
        ("pause", "sending", True, "paused"),
        ("resume", "paused", True, "sending"),
        ("resume", "paused", False, "scheduled"),
        ("cancel", "draft", False, "cancelled"),
        ("cancel", "sending", True, "cancelled"),
        ("cancel", "paused", True, "cancelled"),
    ],
)
def test_transitions(action: str, status: str, frozen: bool, expected: str) -> None:
    assert next_status(action, status, frozen) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("action", "status"),
    [
        ("schedule", "sending"),
        ("schedule", "completed"),
        ("pause", "draft"),
        ("pause", "paused"),
        ("resume", "sending"),
        ("cancel", "completed"),
        ("cancel", "cancelled"),
    ],
)
def test_refused_transitions(action: str, status: str) -> None:
    with pytest.raises(TransitionRefused, match=f"cannot {action} a campaign that is {status}"):
        next_status(action, status, True)  # type: ignore[arg-type]


def test_a_wall_time_is_read_in_the_tenant_timezone() -> None:
    assert send_instant(datetime(2026, 3, 2, 10, 0), "Asia/Tokyo", NOW) == datetime(
        2026, 3, 2, 1, 0, tzinfo=UTC
    )
    # New York springs forward 2026-03-08 02:00 -> 03:00: 02:30 does not exist.
    assert send_instant(datetime(2026, 3, 8, 2, 30), "America/New_York", NOW) == datetime(
        2026, 3, 8, 7, 0, tzinfo=UTC
    )
    aware = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert send_instant(aware, "Asia/Tokyo", NOW) == aware
    assert send_instant(None, "Asia/Tokyo", NOW) == NOW


def test_no_throttle_takes_a_whole_batch() -> None:
    a = allowance(NOW, None, None, 200, TICK)
    assert (a.count, a.next_at, a.throttled) == (200, NOW, False)


def test_slots_are_evenly_spaced() -> None:
    a = allowance(NOW, NOW, 60, 200, TICK)  # one a second
    assert (a.count, a.next_at, a.throttled) == (1, NOW + timedelta(seconds=1), True)
    later = allowance(NOW + timedelta(seconds=1.2), a.next_at, 60, 200, TICK)
    assert (later.count, later.next_at) == (1, NOW + timedelta(seconds=2))
    fast = allowance(NOW + TICK, NOW, 6000, 200, TICK)  # 100 a second, half a second
    assert (fast.count, fast.next_at) == (51, NOW + timedelta(seconds=0.51))


def test_a_waiting_campaign_does_not_burst() -> None:
    a = allowance(NOW + timedelta(hours=1), NOW, 60, 200, TICK)
    assert a.count == 1  # only one tick's worth of unused slots carries over
    b = allowance(NOW + timedelta(hours=1), NOW, 6000, 200, TICK)
    assert b.count == 51


def test_the_batch_size_caps_a_fast_throttle() -> None:
    a = allowance(NOW + TICK, NOW, 600_000, 200, TICK)
    assert (a.count, a.throttled) == (200, False)


def test_sending_throughput_matches_the_throttle() -> None:
    """Simulated worker rounds every 0.1 s for one minute enqueue the throttle, +-1."""
    now, next_at, total = NOW, None, 0
    while now < NOW + timedelta(minutes=1):
        if next_at is None or next_at <= now:
            a = allowance(now, next_at, 90, 200, TICK)
            total, next_at = total + a.count, a.next_at
        now += timedelta(seconds=0.1)
    assert total == 90
