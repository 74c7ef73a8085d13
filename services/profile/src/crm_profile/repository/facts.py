"""Orders, subscriptions, engagement and the timeline of profiles."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from sqlalchemy import Text, column, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.schema import Table

from crm_profile.config import SCHEMA
from crm_profile.tables import orders, subscriptions


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
    """``rows``: order_id, profile_id, fact (JSON text), placed_at; one statement."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: r["order_id"])
    await session.execute(
        text(
            f'UPDATE "{SCHEMA}".orders AS o SET profile_id = u.p, fact = u.f::jsonb, '
            "placed_at = u.t FROM unnest(CAST(:keys AS text[]), CAST(:pids AS text[]), "
            "CAST(:facts AS text[]), CAST(:placed AS timestamptz[])) AS u(k, p, f, t) "
            "WHERE o.tenant_id = :tenant_id AND o.order_id = u.k"
        ),
        {
            "tenant_id": tenant_id,
            "keys": [r["order_id"] for r in rows],
            "pids": [r["profile_id"] for r in rows],
            "facts": [r["fact"] for r in rows],
            "placed": [r["placed_at"] for r in rows],
        },
    )


async def write_subscriptions(
    session: AsyncSession, tenant_id: str, rows: list[dict[str, Any]]
) -> None:
    """``rows``: contract_id, profile_id, fact (JSON text); one statement."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: r["contract_id"])
    await session.execute(
        text(
            f'UPDATE "{SCHEMA}".subscriptions AS s SET profile_id = u.p, fact = u.f::jsonb '
            "FROM unnest(CAST(:keys AS text[]), CAST(:pids AS text[]), CAST(:facts AS text[])) "
            "AS u(k, p, f) WHERE s.tenant_id = :tenant_id AND s.contract_id = u.k"
        ),
        {
            "tenant_id": tenant_id,
            "keys": [r["contract_id"] for r in rows],
            "pids": [r["profile_id"] for r in rows],
            "facts": [r["fact"] for r in rows],
        },
    )


async def add_engagement(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Engagement facts are a set: a repeated event id is ignored. One statement."""
    if not rows:
        return
    await session.execute(
        text(
            f'INSERT INTO "{SCHEMA}".engagement (tenant_id, event_id, profile_id, fact) '
            "SELECT u.t, u.e, u.p, u.f::jsonb FROM unnest(CAST(:tenants AS text[]), "
            "CAST(:events AS text[]), CAST(:pids AS text[]), CAST(:facts AS text[])) "
            "AS u(t, e, p, f) ON CONFLICT DO NOTHING"
        ),
        {
            "tenants": [r["tenant_id"] for r in rows],
            "events": [r["event_id"] for r in rows],
            "pids": [r["profile_id"] for r in rows],
            "facts": [orjson.dumps(r["fact"]).decode() for r in rows],
        },
    )


async def add_timeline(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Timeline rows (a repeated event id is ignored), one statement."""
    if not rows:
        return
    await session.execute(
        text(
            f'INSERT INTO "{SCHEMA}".timeline (tenant_id, event_id, profile_id, type, '
            "occurred_at, source, summary) SELECT u.t, u.e, u.p, u.k, u.o, u.s, u.m::jsonb "
            "FROM unnest(CAST(:tenants AS text[]), CAST(:events AS text[]), "
            "CAST(:pids AS text[]), CAST(:types AS text[]), CAST(:occurred AS timestamptz[]), "
            "CAST(:sources AS text[]), CAST(:summaries AS text[])) AS u(t, e, p, k, o, s, m) "
            "ON CONFLICT DO NOTHING"
        ),
        {
            "tenants": [r["tenant_id"] for r in rows],
            "events": [r["event_id"] for r in rows],
            "pids": [r["profile_id"] for r in rows],
            "types": [r["type"] for r in rows],
            "occurred": [r["occurred_at"] for r in rows],
            "sources": [r["source"] for r in rows],
            "summaries": [orjson.dumps(r["summary"]).decode() for r in rows],
        },
    )


async def adopt_timeline(session: AsyncSession, tenant_id: str, owners: dict[str, str]) -> None:
    """Give orders' ownerless timeline entries (a refund before the order) to their
    profiles, ``{order_id: profile_id}``, in one statement."""
    if not owners:
        return
    keys = sorted(owners)
    await session.execute(
        text(
            f'UPDATE "{SCHEMA}".timeline AS t SET profile_id = u.p FROM unnest('
            "CAST(:keys AS text[]), CAST(:pids AS text[])) AS u(k, p) "
            "WHERE t.tenant_id = :tenant_id AND t.profile_id IS NULL "
            "AND t.summary ->> 'order_id' = u.k"
        ),
        {"tenant_id": tenant_id, "keys": keys, "pids": [owners[k] for k in keys]},
    )


@dataclass
class ProfileFacts:
    orders: dict[str, dict[str, Any]]  # order_id -> fact
    engagement: list[dict[str, Any]]
    subscriptions: dict[str, dict[str, Any]]  # contract_id -> fact


async def facts_of(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> dict[str, ProfileFacts]:
    """Every stored fact of the given profiles, in three queries."""
    out = {pid: ProfileFacts({}, [], {}) for pid in profile_ids}
    if not profile_ids:
        return out
    params = {"tenant_id": tenant_id, "ids": sorted(profile_ids)}
    for table, key in (("orders", "order_id"), ("subscriptions", "contract_id")):
        rows = await session.execute(_facts_query(table, key), params)
        for r in rows:
            found = out[r.profile_id]
            (found.orders if table == "orders" else found.subscriptions)[r.key] = r.fact
    for r in await session.execute(_facts_query("engagement", "event_id"), params):
        out[r.profile_id].engagement.append(r.fact)
    return out


@cache
def _facts_query(table: str, key: str) -> Any:
    return text(
        f'SELECT profile_id, {key} AS key, fact FROM "{SCHEMA}".{table} '
        "WHERE tenant_id = :tenant_id AND profile_id = ANY(CAST(:ids AS text[])) "
        "AND fact IS NOT NULL"
    ).columns(column("profile_id", Text), column("key", Text), column("fact", JSONB))
