"""The read model of profiles and their events, as the evaluators use it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Text, any_, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.domain.evaluate import EventView
from crm_segment.tables import events, merged_profiles, profiles


@dataclass(frozen=True, slots=True)
class StoredProfile:
    profile_id: str
    traits: dict[str, Any]
    version: int
    next_change_at: datetime | None
    merge_pending: bool


def _stored(row: Any) -> StoredProfile:
    return StoredProfile(
        row.profile_id, row.traits, row.version, row.next_change_at, row.merge_pending
    )


_COLUMNS = (
    profiles.c.profile_id,
    profiles.c.traits,
    profiles.c.version,
    profiles.c.next_change_at,
    profiles.c.merge_pending,
)


async def lock(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> dict[str, StoredProfile]:
    """The stored profiles among ``profile_ids``, locked for this transaction."""
    if not profile_ids:
        return {}
    rows = await session.execute(_LOCK, {"tenant": tenant_id, "pids": sorted(profile_ids)})
    return {row.profile_id: _stored(row) for row in rows}


# Array parameters (= ANY): one cached statement for any number of profiles, where an
# IN list is rendered again for every size.
_PIDS = bindparam("pids", type_=ARRAY(Text))
_LOCK = (
    select(*_COLUMNS)
    .where(profiles.c.tenant_id == bindparam("tenant"), profiles.c.profile_id == any_(_PIDS))
    .order_by(profiles.c.profile_id)
    .with_for_update()
)


async def lock_due(
    session: AsyncSession, tenant_id: str, now: datetime, limit: int
) -> list[StoredProfile]:
    """Profiles whose next change is due; rows other replicas hold are skipped."""
    rows = await session.execute(
        select(*_COLUMNS)
        .where(
            profiles.c.tenant_id == tenant_id,
            profiles.c.next_change_at <= now,
            profiles.c.merge_pending.is_(False),
        )
        .order_by(profiles.c.next_change_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_stored(row) for row in rows]


async def earliest_due(session: AsyncSession) -> datetime | None:
    """The earliest next_change_at the sweep can take (not a profile waiting for its
    merged snapshot), over the tenants with live segments: one index probe each."""
    moment: datetime | None = await session.scalar(_EARLIEST)
    return moment


_EARLIEST = text(
    """
    SELECT min(first.at) FROM (
        SELECT DISTINCT tenant_id FROM segment.segments
        WHERE status = 'active' AND kind = 'dynamic'
    ) AS t
    CROSS JOIN LATERAL (
        SELECT p.next_change_at AS at FROM segment.profiles AS p
        WHERE p.tenant_id = t.tenant_id AND p.next_change_at IS NOT NULL
          AND NOT p.merge_pending
        ORDER BY p.next_change_at LIMIT 1
    ) AS first
    """
)


async def save_snapshots(
    session: AsyncSession,
    tenant_id: str,
    rows: Sequence[tuple[str, int, dict[str, Any]]],
    at: datetime,
) -> None:
    """Upsert ``(profile_id, version, traits)``; an older version never wins."""
    if not rows:
        return
    params = {
        "tenant": tenant_id,
        "at": at,
        "pids": [p for p, _, _ in rows],
        "versions": [v for _, v, _ in rows],
        "traits": [orjson.dumps(t).decode() for _, _, t in rows],
    }
    await session.execute(_SAVE, params)


_SAVE = text(
    """
    INSERT INTO segment.profiles AS p (tenant_id, profile_id, traits, version, updated_at)
    SELECT :tenant, u.pid, CAST(u.traits AS jsonb), u.version, :at
    FROM unnest(CAST(:pids AS text[]), CAST(:traits AS text[]), CAST(:versions AS bigint[]))
      AS u(pid, traits, version)
    ON CONFLICT (tenant_id, profile_id) DO UPDATE
    SET traits = excluded.traits, version = excluded.version, updated_at = excluded.updated_at,
        merge_pending = false
    WHERE p.version < excluded.version
    """
)


async def set_next_change(
    session: AsyncSession, tenant_id: str, moments: dict[str, datetime | None]
) -> None:
    if not moments:
        return
    await session.execute(
        _SET_NEXT,
        {"tenant": tenant_id, "pids": list(moments), "moments": list(moments.values())},
    )


# unnest: one statement for any number of profiles (executemany is a round per row).
_SET_NEXT = text(
    "UPDATE segment.profiles AS p SET next_change_at = u.moment"
    " FROM unnest(CAST(:pids AS text[]), CAST(:moments AS timestamptz[])) AS u(pid, moment)"
    " WHERE p.tenant_id = :tenant AND p.profile_id = u.pid"
)


_SURVIVORS = select(merged_profiles.c.profile_id, merged_profiles.c.survivor_id).where(
    merged_profiles.c.tenant_id == bindparam("tenant"),
    merged_profiles.c.profile_id == any_(_PIDS),
)


async def survivors(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> dict[str, str]:
    """For merged ids among ``profile_ids``: the live survivor (chains followed)."""
    found: dict[str, str] = {}
    pending = set(profile_ids)
    for _ in range(10):  # a merge chain longer than this is not a real person
        if not pending:
            break
        rows = await session.execute(_SURVIVORS, {"tenant": tenant_id, "pids": sorted(pending)})
        step = {row.profile_id: row.survivor_id for row in rows}
        for origin, target in list(found.items()):
            if target in step:
                found[origin] = step[target]
        for merged, survivor in step.items():
            found.setdefault(merged, survivor)
        pending = set(step.values())
    return found


async def add_events(
    session: AsyncSession, tenant_id: str, rows: Sequence[dict[str, Any]]
) -> list[tuple[str, str]]:
    """Store events (``event_id``, ``profile_id``, ``type``, ``occurred_at``, ``properties``);
    return ``(profile_id, type)`` of those not stored before."""
    if not rows:
        return []
    params = {
        "tenant": tenant_id,
        "ids": [r["event_id"] for r in rows],
        "pids": [r["profile_id"] for r in rows],
        "types": [r["type"] for r in rows],
        "ats": [r["occurred_at"] for r in rows],
        "props": [orjson.dumps(r["properties"]).decode() for r in rows],
    }
    return [(row.profile_id, row.type) for row in await session.execute(_ADD_EVENTS, params)]


_ADD_EVENTS = text(
    """
    INSERT INTO segment.events (tenant_id, event_id, profile_id, type, occurred_at, properties)
    SELECT :tenant, u.id, u.pid, u.type, u.at, CAST(u.props AS jsonb)
    FROM unnest(CAST(:ids AS text[]), CAST(:pids AS text[]), CAST(:types AS text[]),
                CAST(:ats AS timestamptz[]), CAST(:props AS text[])) AS u(id, pid, type, at, props)
    ON CONFLICT DO NOTHING
    RETURNING profile_id, type
    """
)


_EVENTS_OF = select(
    events.c.profile_id, events.c.type, events.c.occurred_at, events.c.properties
).where(
    events.c.tenant_id == bindparam("tenant"),
    events.c.profile_id == any_(_PIDS),
    events.c.type == any_(bindparam("types", type_=ARRAY(Text))),
)


async def events_of(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str], types: Collection[str]
) -> dict[str, list[EventView]]:
    found: dict[str, list[EventView]] = defaultdict(list)
    if not profile_ids or not types:
        return found
    params = {"tenant": tenant_id, "pids": list(profile_ids), "types": sorted(types)}
    rows = await session.execute(_EVENTS_OF, params)
    for row in rows:
        found[row.profile_id].append(EventView(row.type, row.occurred_at, row.properties))
    return found


async def record_merge(
    session: AsyncSession, tenant_id: str, merged_id: str, survivor_id: str, at: datetime
) -> bool:
    """Tombstone the merged id; False when this merge was already applied."""
    stmt = (
        pg_insert(merged_profiles)
        .values(tenant_id=tenant_id, profile_id=merged_id, survivor_id=survivor_id, merged_at=at)
        .on_conflict_do_nothing()
        .returning(merged_profiles.c.profile_id)
    )
    return (await session.execute(stmt)).first() is not None


async def move_profile(
    session: AsyncSession, tenant_id: str, merged_id: str, survivor_id: str
) -> None:
    """Events to the survivor; the survivor waits for its merged snapshot; the alias goes."""
    await session.execute(
        update(events)
        .where(events.c.tenant_id == tenant_id, events.c.profile_id == merged_id)
        .values(profile_id=survivor_id)
    )
    alias_next = (
        select(profiles.c.next_change_at)
        .where(profiles.c.tenant_id == tenant_id, profiles.c.profile_id == merged_id)
        .scalar_subquery()
    )
    await session.execute(
        update(profiles)
        .where(profiles.c.tenant_id == tenant_id, profiles.c.profile_id == survivor_id)
        .values(
            merge_pending=True,
            next_change_at=func.least(profiles.c.next_change_at, alias_next),
        )
    )
    await session.execute(
        delete(profiles).where(
            profiles.c.tenant_id == tenant_id, profiles.c.profile_id == merged_id
        )
    )
