"""Carrying the last known segment size over days without a recorded row."""

from __future__ import annotations

from datetime import date

from crm_segment.api.history import carried_forward


def _items(recorded: dict[date, int], first: date, today: date, live: int) -> list[tuple]:
    return [(i.date.day, i.size) for i in carried_forward(recorded, first, today, live)]


def test_days_without_a_row_keep_the_last_size_and_today_is_live() -> None:
    recorded = {date(2026, 11, 2): 5, date(2026, 11, 4): 7, date(2026, 11, 6): 9}
    assert _items(recorded, date(2026, 11, 1), date(2026, 11, 6), 10) == [
        (2, 5),
        (3, 5),
        (4, 7),
        (5, 7),
        (6, 10),
    ]


def test_a_size_before_the_window_is_carried_in() -> None:
    recorded = {date(2026, 10, 20): 3}
    assert _items(recorded, date(2026, 11, 1), date(2026, 11, 3), 4) == [(1, 3), (2, 3), (3, 4)]


def test_nothing_known_before_today_gives_only_today() -> None:
    assert _items({}, date(2026, 11, 1), date(2026, 11, 3), 0) == [(3, 0)]
