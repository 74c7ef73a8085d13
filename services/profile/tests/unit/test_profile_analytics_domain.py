"""Pure helpers of the analytics endpoints."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm_profile.domain.analytics import (
    acquisition_source,
    by_source,
    money,
    months_back,
    ratio,
    referrer_host,
)


@pytest.mark.parametrize(
    ("utm_source", "utm_medium", "referrer", "expected"),
    [
        ("google", "cpc", "https://www.bing.com/", "google / cpc"),
        ("google", None, None, "google / (none)"),
        (None, "email", None, "(not set) / email"),
        (None, None, "https://www.Google.co.jp/search?q=tea", "www.google.co.jp"),
        (None, None, "instagram.com/p/1", "instagram.com"),
        ("", "", "  ", "(direct)"),
        (None, None, None, "(direct)"),
    ],
)
def test_acquisition_source(utm_source, utm_medium, referrer, expected) -> None:
    assert acquisition_source(utm_source, utm_medium, referrer) == expected


def test_referrer_host_of_garbage_is_none() -> None:
    assert referrer_host("http://[::1") is None
    assert referrer_host("https://") is None


def test_money_in_minor_units() -> None:
    assert money(Decimal("7500.00"), "JPY") == "7500"
    assert money(Decimal("12.5"), "USD") == "12.50"
    assert money(Decimal(0), "JPY") == "0"


def test_ratio() -> None:
    assert ratio(3, 4) == 0.75
    assert ratio(1, 3) == 0.3333
    assert ratio(0, 0) is None


def test_months_back_crosses_the_year_in_the_local_month() -> None:
    tokyo = (
        datetime(2026, 2, 28, 15, 30)
        .replace(tzinfo=ZoneInfo("UTC"))
        .astimezone(ZoneInfo("Asia/Tokyo"))
    )  # 1 March 00:30 in Tokyo
    assert months_back(tokyo, 3) == ["2026-01", "2026-02", "2026-03"]
    assert months_back(datetime(2026, 1, 15), 12)[0] == "2025-02"
    assert len(months_back(datetime(2026, 1, 15), 12)) == 12


def test_by_source_folds_groups_and_sorts_by_revenue() -> None:
    rows = [
        ("google", "cpc", None, 2, Decimal(3000)),
        (None, None, None, 1, Decimal(9000)),
        ("google", "cpc", "https://x.example/", 1, Decimal(1000)),
        (None, None, "https://x.example/", 1, Decimal(4000)),
    ]
    assert [(s.source, s.customers, s.revenue) for s in by_source(rows)] == [
        ("(direct)", 1, Decimal(9000)),
        ("google / cpc", 3, Decimal(4000)),
        ("x.example", 1, Decimal(4000)),
    ]
