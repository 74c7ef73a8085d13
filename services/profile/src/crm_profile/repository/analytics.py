"""Aggregate queries behind ``/v1/analytics`` (no locks: the last committed state).

Customers are live profiles: not merged away, not deleted. Money comes from
the traits (``total_spent``: net spend in the tenant currency) or, for revenue
by month, from the stored order facts with the traits' rules: an order counts
when its details are known and it is not cancelled; its revenue is its total
minus refunds in its currency, never below 0, and only orders in the tenant
currency add revenue.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Integer, Numeric, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.tables import profiles

_traits = profiles.c.traits
_orders_count = func.coalesce(_traits["orders_count"].astext.cast(Integer), 0)
_spent = func.coalesce(_traits["total_spent"].astext.cast(Numeric), 0)


def _live(tenant_id: str) -> list[ColumnElement[bool]]:
    p = profiles.c
    return [p.tenant_id == tenant_id, p.merged_into.is_(None), p.deleted_at.is_(None)]


async def customer_counts(session: AsyncSession, tenant_id: str) -> Any:
    """One row: ``customers``, ``buyers``, ``repeat_buyers``, ``revenue`` (buyers' net spend)."""
    stmt = select(
        func.count().label("customers"),
        func.count().filter(_orders_count >= 1).label("buyers"),
        func.count().filter(_orders_count >= 2).label("repeat_buyers"),
        func.coalesce(func.sum(_spent).filter(_orders_count >= 1), 0).label("revenue"),
    ).where(*_live(tenant_id))
    return (await session.execute(stmt)).one()


async def spend_by_acquisition(
    session: AsyncSession, tenant_id: str
) -> list[tuple[str | None, str | None, str | None, int, Decimal]]:
    """Buyers and their net spend per (utm source, utm medium, referring site)."""
    keys = [
        _traits[f"acquisition_{k}"].astext.label(k)
        for k in ("utm_source", "utm_medium", "referring_site")
    ]
    stmt = (
        select(*keys, func.count().label("buyers"), func.sum(_spent).label("revenue"))
        .where(*_live(tenant_id), _orders_count >= 1)
        .group_by(*keys)
    )
    rows = await session.execute(stmt)
    return [(r[0], r[1], r[2], int(r.buyers), Decimal(r.revenue)) for r in rows]


async def rfm_cells(session: AsyncSession, tenant_id: str) -> list[Any]:
    """``r``, ``f``, ``customers``, ``revenue`` per scored (R, F) cell."""
    r = _traits["rfm_recency"].astext.cast(Integer).label("r")
    f = _traits["rfm_frequency"].astext.cast(Integer).label("f")
    stmt = (
        select(r, f, func.count().label("customers"), func.sum(_spent).label("revenue"))
        .where(*_live(tenant_id), r.is_not(None), f.is_not(None))
        .group_by(r, f)
    )
    return list(await session.execute(stmt))


async def rank_totals(session: AsyncSession, tenant_id: str) -> list[Any]:
    """``rank``, ``customers``, ``revenue`` per RFM rank held now."""
    rank = _traits["rfm_rank"].astext.label("rank")
    stmt = (
        select(rank, func.count().label("customers"), func.sum(_spent).label("revenue"))
        .where(*_live(tenant_id), rank.is_not(None))
        .group_by(rank)
    )
    return list(await session.execute(stmt))


_REVENUE_BY_MONTH = text(
    """
    SELECT to_char(o.placed_at AT TIME ZONE :tz, 'YYYY-MM') AS month,
           count(*) AS orders,
           coalesce(sum(CASE WHEN o.fact->'details'->>'currency' = :currency THEN greatest(
               (o.fact->'details'->>'total')::numeric - coalesce((
                   SELECT sum((r->>'amount')::numeric)
                   FROM jsonb_array_elements(coalesce(o.fact->'refunds', '[]'::jsonb)) AS r
                   WHERE r->>'currency' = o.fact->'details'->>'currency'
               ), 0), 0) ELSE 0 END), 0) AS revenue
    FROM profile.orders AS o
    WHERE o.tenant_id = :tenant AND o.placed_at >= :start
      AND jsonb_typeof(o.fact->'details') = 'object'
      AND coalesce(jsonb_typeof(o.fact->'cancellation'), 'null') = 'null'
    GROUP BY 1
    """
)


async def revenue_by_month(
    session: AsyncSession, tenant_id: str, currency: str, tz: str, start: datetime
) -> dict[str, tuple[Decimal, int]]:
    """``"YYYY-MM"`` (in ``tz``) -> (net revenue, orders) for orders placed since ``start``."""
    params = {"tenant": tenant_id, "currency": currency, "tz": tz, "start": start}
    rows = await session.execute(_REVENUE_BY_MONTH, params)
    return {r.month: (Decimal(r.revenue), int(r.orders)) for r in rows}


_RANK_MOVES = text(
    """
    WITH then_rank AS (
        SELECT DISTINCT ON (h.profile_id) h.profile_id, h.rank
        FROM profile.rank_history AS h
        WHERE h.tenant_id = :tenant AND h.valid_from <= :since
        ORDER BY h.profile_id, h.valid_from DESC
    )
    SELECT t.rank AS from_rank, p.traits->>'rfm_rank' AS to_rank, count(*) AS customers
    FROM profile.profiles AS p
    LEFT JOIN then_rank AS t ON t.profile_id = p.profile_id
    WHERE p.tenant_id = :tenant AND p.merged_into IS NULL AND p.deleted_at IS NULL
      AND (t.rank IS NOT NULL OR p.traits->>'rfm_rank' IS NOT NULL)
    GROUP BY 1, 2
    ORDER BY 1 NULLS FIRST, 2 NULLS FIRST
    """
)


async def rank_moves(session: AsyncSession, tenant_id: str, since: datetime) -> list[Any]:
    """``from_rank`` (held at ``since``, None without one), ``to_rank`` (now), ``customers``."""
    return list(await session.execute(_RANK_MOVES, {"tenant": tenant_id, "since": since}))
