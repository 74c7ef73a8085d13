"""Pure helpers of the analytics endpoints: acquisition sources, month windows, money.

* Acquisition source (``ltv_by_source``), from the first order's attribution
  traits: ``"<utm_source> / <utm_medium>"`` when either UTM field is set
  (``(not set)`` / ``(none)`` for the missing half, as Google Analytics
  writes it), else the host of the referring site (``www.google.com``), else
  ``"(direct)"``.
* Month windows: the last ``n`` calendar months of the tenant's timezone, the
  current one included, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlsplit

from crm_profile.domain.purchases import average

DIRECT = "(direct)"
RANKS = ("A", "B", "C", "D", "E")
SCORES = (1, 2, 3, 4, 5)


def acquisition_source(
    utm_source: str | None, utm_medium: str | None, referring_site: str | None
) -> str:
    """The acquisition channel of a buyer (see the module docstring)."""
    if utm_source or utm_medium:
        return f"{utm_source or '(not set)'} / {utm_medium or '(none)'}"
    host = referrer_host(referring_site)
    return host or DIRECT


def referrer_host(referring_site: str | None) -> str | None:
    """``https://www.Google.com/search?q=x`` -> ``www.google.com``; None when unusable."""
    text = (referring_site or "").strip()
    if not text:
        return None
    if "//" not in text:
        text = "//" + text  # a bare host ("google.com/x"): read it as the network location
    try:
        return urlsplit(text).hostname or None
    except ValueError:
        return None


def money(amount: Decimal, currency: str) -> str:
    """An amount as a decimal string in the currency's minor unit (``"7500"``, ``"12.50"``)."""
    return str(average(amount, 1, currency))


def ratio(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to 4 places; None when ``whole`` is 0."""
    return round(part / whole, 4) if whole else None


def months_back(now_local: datetime, n: int = 12) -> list[str]:
    """``"YYYY-MM"`` of the last ``n`` months ending with ``now_local``'s, oldest first."""
    index = now_local.year * 12 + now_local.month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - n + 1, index + 1)]


@dataclass(frozen=True)
class SourceTotal:
    source: str
    customers: int
    revenue: Decimal


def by_source(
    rows: Iterable[tuple[str | None, str | None, str | None, int, Decimal]],
) -> list[SourceTotal]:
    """Fold ``(utm_source, utm_medium, referring_site, buyers, revenue)`` groups into
    sources, largest revenue first (then more customers, then name)."""
    customers: dict[str, int] = {}
    revenue: dict[str, Decimal] = {}
    for utm_source, utm_medium, referrer, count, spent in rows:
        key = acquisition_source(utm_source, utm_medium, referrer)
        customers[key] = customers.get(key, 0) + count
        revenue[key] = revenue.get(key, Decimal(0)) + spent
    totals = [SourceTotal(k, customers[k], revenue[k]) for k in customers]
    return sorted(totals, key=lambda t: (-t.revenue, -t.customers, t.source))
