"""Orders, subscriptions, engagement and the timeline of profiles."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Text, bindparam, column, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from crm_profile.config import SCHEMA
from crm_profile.tables import engagement, orders, subscriptions, timeline


@dataclass
class FactRow:
    """One order or subscription row, locked for this transaction."""

    key: str
    profile_id: str | None
    fact: dict[str, Any] | None


async def lock_orders(
    session: AsyncSession, tenant_id: str, order_ids: Collection[str]
) -> dict[str, FactRow]:
    return await _lock(session, orders, "order_id", tenant_id, order_ids)


async def lock_subscriptions(
    session: AsyncSession, tenant_id: str, contract_ids: Collection[str]
) -> dict[str, FactRow]:
    return await _lock(session, subscriptions, "contract_id", tenant_id, contract_ids)


async def _lock(
    session: AsyncSession, table: Table, key: str, tenant_id: str, keys: Collection[str]
) -> dict[str, FactRow]:
    """Insert missing rows and lock all of them in one round trip.

    ``ON CONFLICT DO UPDATE`` (a no-op update) takes the row lock and returns the
    stored values, so a fact is read and locked at once, in key order.
    """
    if not keys:
        return {}
    # unnest() keeps the statement the same for any number of keys (cached, cheap
    # to compile), unlike a multi-row VALUES list.
    stmt = text(
        f'INSERT INTO "{SCHEMA}"."{table.name}" (tenant_id, {key}) '
        f"SELECT :tenant_id, k FROM unnest(CAST(:keys AS text[])) AS u(k) ORDER BY k "
        f"ON CONFLICT (tenant_id, {key}) DO UPDATE SET {key} = EXCLUDED.{key} "
        f"RETURNING {key}, profile_id, fact"
    ).columns(column(key, Text), column("profile_id", Text), column("fact", JSONB))
    rows = await session.execute(stmt, {"tenant_id": tenant_id, "keys": sorted(keys)})
    return {r[0]: FactRow(r[0], r.profile_id, r.fact) for r in rows}


async def write_orders(session: AsyncSession, tenant_id: str, rows: list[dict[str, Any]]) -> None:
    """``rows``: order_id, profile_id, fact, placed_at."""
    if not rows:
        return
    o = orders
    stmt = (
        update(o)
        .where(o.c.tenant_id == tenant_id, o.c.order_id == bindparam("b_order_id"))
        .values(
            profile_id=bindparam("b_profile_id"),
            fact=bindparam("b_fact"),
            placed_at=bindparam("b_placed_at"),
        )
    )
    await session.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in rows])


async def write_subscriptions(
    session: AsyncSession, tenant_id: str, rows: list[dict[str, Any]]
) -> None:
    """``rows``: contract_id, profile_id, fact."""
    if not rows:
        return
    s = subscriptions
    stmt = (
        update(s)
        .where(s.c.tenant_id == tenant_id, s.c.contract_id == bindparam("b_contract_id"))
        .values(profile_id=bindparam("b_profile_id"), fact=bindparam("b_fact"))
    )
    await session.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in rows])


async def add_engagement(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Engagement facts are a set: a repeated event id is ignored."""
    if rows:
        await session.execute(pg_insert(engagement).on_conflict_do_nothing(), rows)


async def add_timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    if rows:
        await session.execute(pg_insert(timeline).on_conflict_do_nothing(), rows)


async def adopt_timeline(
    session: AsyncSession, tenant_id: str, order_id: str, profile_id: str
) -> None:
    """Give an order's ownerless timeline entries (a refund before the order) to its profile."""
    t = timeline
    await session.execute(
        update(t)
        .where(
            t.c.tenant_id == tenant_id,
            t.c.profile_id.is_(None),
            t.c.summary["order_id"].astext == order_id,
        )
        .values(profile_id=profile_id)
    )


@dataclass
class ProfileFacts:
    orders: list[dict[str, Any]]
    engagement: list[dict[str, Any]]
    subscriptions: list[dict[str, Any]]


async def facts_of(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> dict[str, ProfileFacts]:
    """Every stored fact of the given profiles, in three queries."""
    out = {pid: ProfileFacts([], [], []) for pid in profile_ids}
    if not profile_ids:
        return out
    ids = list(profile_ids)
    for table, attr in (
        (orders, "orders"),
        (engagement, "engagement"),
        (subscriptions, "subscriptions"),
    ):
        rows = await session.execute(
            select(table.c.profile_id, table.c.fact).where(
                table.c.tenant_id == tenant_id,
                table.c.profile_id.in_(ids),
                table.c.fact.is_not(None),
            )
        )
        for r in rows:
            getattr(out[r.profile_id], attr).append(r.fact)
    return out
