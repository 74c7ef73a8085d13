"""The console's analytics: overview, RFM grid and ranks, rank movement.

Each function reads one tenant's committed state in the request's session and
returns the JSON body (money as decimal strings in the tenant currency).
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.domain.analytics import RANKS, SCORES, by_source, money, months_back, ratio
from crm_profile.domain.purchases import average
from crm_profile.handlers.process import thresholds_of
from crm_profile.repository import analytics as repo


async def overview(session: AsyncSession, tenant_id: str, tz: str, now: datetime) -> dict[str, Any]:
    """Customers, buyers, F2 conversion, average LTV, revenue by month, LTV by source.

    * ``customers``: live profiles (not merged away, not deleted), leads included.
    * ``buyers``: customers with ``orders_count >= 1``; ``repeat_buyers``: ``>= 2``.
    * ``f2_conversion_rate`` (F2 転換率) = repeat_buyers / buyers: the share of
      customers who bought once that went on to buy a second time (4 places;
      null without buyers).
    * ``average_ltv`` = buyers' total net spend (``total_spent``) / buyers.
    * ``revenue_by_month``: the last 12 months in the tenant timezone (the current
      one included), zeros included, from the stored orders (see
      :mod:`crm_profile.repository.analytics`; every order counts, its
      customer's status notwithstanding).
    * ``ltv_by_source``: buyers grouped by acquisition source (see
      :mod:`crm_profile.domain.analytics`), largest revenue first.
    """
    currency = (await thresholds_of(session, tenant_id)).currency
    counts = await repo.customer_counts(session, tenant_id)
    return {
        "currency": currency,
        "customers": counts.customers,
        "buyers": counts.buyers,
        "repeat_buyers": counts.repeat_buyers,
        "f2_conversion_rate": ratio(counts.repeat_buyers, counts.buyers),
        "average_ltv": _average(Decimal(counts.revenue), counts.buyers, currency),
        "revenue_by_month": await _revenue_by_month(session, tenant_id, currency, tz, now),
        "ltv_by_source": [
            {
                "source": s.source,
                "customers": s.customers,
                "average_ltv": _average(s.revenue, s.customers, currency),
                "revenue": money(s.revenue, currency),
            }
            for s in by_source(await repo.spend_by_acquisition(session, tenant_id))
        ],
    }


async def _revenue_by_month(
    session: AsyncSession, tenant_id: str, currency: str, tz: str, now: datetime
) -> list[dict[str, Any]]:
    months = months_back(now.astimezone(ZoneInfo(tz)))
    year, month = (int(x) for x in months[0].split("-"))
    start = datetime(year, month, 1, tzinfo=ZoneInfo(tz))
    found = await repo.revenue_by_month(session, tenant_id, currency, tz, start)
    out = []
    for label in months:
        revenue, orders = found.get(label, (Decimal(0), 0))
        out.append({"month": label, "revenue": money(revenue, currency), "orders": orders})
    return out


async def rfm(session: AsyncSession, tenant_id: str) -> dict[str, Any]:
    """The R x F grid (25 cells) and the A-E distribution, zeros included.

    Scores and ranks are the stored traits: new thresholds show as profiles are
    rescored (lazily), while ``thresholds`` are the settings in effect now.
    """
    thresholds = await thresholds_of(session, tenant_id)
    currency = thresholds.currency
    cells = {(r.r, r.f): r for r in await repo.rfm_cells(session, tenant_id)}
    ranks = {r.rank: r for r in await repo.rank_totals(session, tenant_id)}
    return {
        "grid": [
            {"r": r, "f": f, **_totals(cells.get((r, f)), currency)} for r in SCORES for f in SCORES
        ],
        "ranks": [{"rank": k, **_totals(ranks.get(k), currency)} for k in RANKS],
        "thresholds": thresholds.model_dump(mode="json"),
    }


def _totals(row: Any, currency: str) -> dict[str, Any]:
    if row is None:
        return {"customers": 0, "revenue": money(Decimal(0), currency)}
    return {"customers": row.customers, "revenue": money(Decimal(row.revenue), currency)}


async def rank_movement(
    session: AsyncSession, tenant_id: str, tz: str, since: date
) -> dict[str, Any]:
    """How live customers moved from the rank they held at the start of ``since``
    (tenant timezone) to their rank now.

    ``from_rank`` is null for a customer without a rank then (no purchase yet,
    or not known then); ``to_rank`` is null for one who lost theirs (every order
    cancelled). Customers without a rank at either end are left out; staying
    in a rank is a move to the same rank.
    """
    at = datetime.combine(since, time(0), tzinfo=ZoneInfo(tz))
    rows = await repo.rank_moves(session, tenant_id, at)
    return {
        "since": since.isoformat(),
        "moves": [
            {"from_rank": r.from_rank, "to_rank": r.to_rank, "customers": r.customers} for r in rows
        ],
    }


def _average(total: Decimal, count: int, currency: str) -> str:
    value = average(total, count, currency)
    return money(Decimal(0), currency) if value is None else str(value)
