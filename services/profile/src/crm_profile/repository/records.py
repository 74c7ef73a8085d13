"""Profiles and identifiers: locking, claiming, merging, erasing."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_profile.domain import Identifier, IdentifierKind
from crm_profile.tables import (
    engagement,
    identifiers,
    orders,
    points_entries,
    profiles,
    subscriptions,
    timeline,
)


@dataclass
class ProfileRow:
    """A profile row as stored (JSON columns still raw)."""

    profile_id: str
    created_at: datetime
    version: int
    merged_into: str | None
    deleted_at: datetime | None
    redacted_at: datetime | None
    attributes: dict[str, Any]
    permissions: dict[str, Any]
    traits: dict[str, Any]
    rfm_rank_previous: str | None


def _ident(kind: str, value: str) -> Identifier:
    return Identifier(kind=IdentifierKind(kind), value=value)


_OWNERS_OF = text(
    "SELECT i.kind, i.value, i.profile_id FROM unnest(CAST(:kinds AS text[]), "
    'CAST(:vals AS text[])) AS u(kind, value) JOIN "profile".identifiers AS i '
    "ON i.tenant_id = :tenant_id AND i.kind = u.kind AND i.value = u.value"
)


async def owners_of(
    session: AsyncSession, tenant_id: str, wanted: Collection[Identifier]
) -> dict[Identifier, str]:
    """Current owner of each identifier that has one (no lock: verify after locking).

    One index probe per identifier (a join on ``unnest``): a row-value ``IN`` list
    of a batch's identifiers made PostgreSQL scan the tenant's identifiers.
    """
    if not wanted:
        return {}
    keys = list(wanted)
    rows = await session.execute(
        _OWNERS_OF,
        {
            "tenant_id": tenant_id,
            "kinds": [w.kind.value for w in keys],
            "vals": [w.value for w in keys],
        },
    )
    return {_ident(r.kind, r.value): r.profile_id for r in rows}


_LOCK_PROFILES = text(
    "SELECT profile_id, created_at, version, merged_into, deleted_at, redacted_at, "
    "attributes, permissions, traits, rfm_rank_previous "
    'FROM "profile".profiles WHERE tenant_id = :tenant_id '
    "AND profile_id = ANY(CAST(:ids AS text[])) ORDER BY profile_id FOR UPDATE"
).columns(
    profiles.c.profile_id,
    profiles.c.created_at,
    profiles.c.version,
    profiles.c.merged_into,
    profiles.c.deleted_at,
    profiles.c.redacted_at,
    profiles.c.attributes,
    profiles.c.permissions,
    profiles.c.traits,
    profiles.c.rfm_rank_previous,
)


async def lock_profiles(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> list[ProfileRow]:
    """Lock the rows (in id order, to keep lock order stable across consumers)."""
    if not profile_ids:
        return []
    rows = await session.execute(
        _LOCK_PROFILES, {"tenant_id": tenant_id, "ids": sorted(profile_ids)}
    )
    return [ProfileRow(**r._mapping) for r in rows]


async def identifiers_of_profiles(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> dict[str, set[Identifier]]:
    out: dict[str, set[Identifier]] = {pid: set() for pid in profile_ids}
    if not profile_ids:
        return out
    rows = await session.execute(
        text(
            'SELECT kind, value, profile_id FROM "profile".identifiers '
            "WHERE tenant_id = :tenant_id AND profile_id = ANY(CAST(:ids AS text[]))"
        ),
        {"tenant_id": tenant_id, "ids": list(profile_ids)},
    )
    for r in rows:
        out[r.profile_id].add(_ident(r.kind, r.value))
    return out


async def insert_profiles(
    session: AsyncSession, tenant_id: str, rows: Sequence[tuple[str, datetime, str | None]]
) -> None:
    """Insert new records, ``(profile_id, created_at, merged_into)``, in one statement."""
    if not rows:
        return
    ids, created, merged = (list(col) for col in zip(*sorted(rows), strict=True))
    await session.execute(
        text(
            'INSERT INTO "profile".profiles (tenant_id, profile_id, created_at, version, '
            "merged_into) SELECT :tenant_id, u.p, u.c, 0, u.m "
            "FROM unnest(CAST(:ids AS text[]), CAST(:created AS timestamptz[]), "
            "CAST(:merged AS text[])) AS u(p, c, m)"
        ),
        {"tenant_id": tenant_id, "ids": ids, "created": created, "merged": merged},
    )


async def claim_identifiers(
    session: AsyncSession, tenant_id: str, wanted: Mapping[Identifier, str]
) -> set[Identifier]:
    """Insert ``identifier -> profile_id`` rows; return those inserted (others were taken).

    One statement, in (kind, value) order so that concurrent claims lock alike. A
    conflicting row inserted by a concurrent transaction makes PostgreSQL wait for
    that transaction, so a loser sees the winner's row on its next query.
    """
    if not wanted:
        return set()
    order = sorted(wanted, key=lambda i: (i.kind.value, i.value))
    rows = await session.execute(
        text(
            'INSERT INTO "profile".identifiers (tenant_id, kind, value, profile_id, created_at) '
            "SELECT :tenant_id, u.k, u.v, u.p, now() FROM unnest(CAST(:kinds AS text[]), "
            "CAST(:vals AS text[]), CAST(:pids AS text[])) WITH ORDINALITY AS u(k, v, p, n) "
            "ORDER BY u.n ON CONFLICT DO NOTHING RETURNING kind, value"
        ),
        {
            "tenant_id": tenant_id,
            "kinds": [i.kind.value for i in order],
            "vals": [i.value for i in order],
            "pids": [wanted[i] for i in order],
        },
    )
    return {_ident(r.kind, r.value) for r in rows}


async def merge_into(
    session: AsyncSession, tenant_id: str, survivor: str, merged: Sequence[str]
) -> None:
    """Move everything of ``merged`` to ``survivor``; the merged rows become aliases."""
    for table in (identifiers, orders, subscriptions, engagement, timeline, points_entries):
        await session.execute(
            update(table)
            .where(table.c.tenant_id == tenant_id, table.c.profile_id.in_(merged))
            .values(profile_id=survivor)
        )
    p = profiles
    await session.execute(
        update(p)
        .where(p.c.tenant_id == tenant_id, p.c.merged_into.in_(merged))
        .values(merged_into=survivor)
    )
    await session.execute(
        update(p)
        .where(p.c.tenant_id == tenant_id, p.c.profile_id.in_(merged))
        .values(merged_into=survivor, updated_at=func.now())
    )


async def delete_identifiers(
    session: AsyncSession, tenant_id: str, profile_id: str, kinds: Iterable[IdentifierKind]
) -> None:
    i = identifiers
    await session.execute(
        delete(i).where(
            i.c.tenant_id == tenant_id,
            i.c.profile_id == profile_id,
            i.c.kind.in_([k.value for k in kinds]),
        )
    )


_WRITE_PROFILES = text(
    'UPDATE "profile".profiles AS p SET created_at = u.created_at, version = u.version, '
    "deleted_at = u.deleted_at, redacted_at = u.redacted_at, "
    "attributes = coalesce(u.attributes::jsonb, p.attributes), "
    "permissions = coalesce(u.permissions::jsonb, p.permissions), traits = u.traits::jsonb, "
    "rfm_rank_previous = u.rfm_rank_previous, traits_computed_at = "
    "coalesce(CAST(:computed_at AS timestamptz), p.traits_computed_at), updated_at = now() "
    "FROM unnest(CAST(:ids AS text[]), CAST(:created_at AS timestamptz[]), "
    "CAST(:version AS bigint[]), CAST(:deleted_at AS timestamptz[]), "
    "CAST(:redacted_at AS timestamptz[]), CAST(:attributes AS text[]), "
    "CAST(:permissions AS text[]), CAST(:traits AS text[]), CAST(:rfm_rank_previous AS text[])) "
    "AS u(profile_id, created_at, version, deleted_at, redacted_at, attributes, permissions, "
    "traits, rfm_rank_previous) "
    "WHERE p.tenant_id = :tenant_id AND p.profile_id = u.profile_id"
)
_PROFILE_COLUMNS = (
    "created_at",
    "version",
    "deleted_at",
    "redacted_at",
    "attributes",
    "permissions",
    "traits",
    "rfm_rank_previous",
)


async def write_profiles(
    session: AsyncSession,
    tenant_id: str,
    rows: list[dict[str, Any]],
    computed_at: datetime | None = None,
) -> None:
    """Update changed profiles in one statement (``rows`` keyed like the columns, JSON
    columns as JSON text; attributes or permissions None: left as stored, so an
    unchanged value is not written again); ``computed_at`` also sets
    ``traits_computed_at``."""
    if not rows:
        return
    rows = sorted(rows, key=lambda r: r["profile_id"])
    params: dict[str, Any] = {c: [r[c] for r in rows] for c in _PROFILE_COLUMNS}
    params |= {"tenant_id": tenant_id, "ids": [r["profile_id"] for r in rows]}
    await session.execute(_WRITE_PROFILES, params | {"computed_at": computed_at})


async def erase_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Delete every profile row of a tenant (Shopify ``shop/redact``), its outbox rows
    too (every key is ``tenant:...``; snapshots carry contact blocks, activity the
    events' data): nothing more of the shop is sent, and no copy is kept."""
    from crm_profile.tables import loyalty_settings, outbox, rank_history, rfm_settings

    erased = (timeline, engagement, subscriptions, orders, identifiers, profiles, rfm_settings)
    for table in (*erased, rank_history, points_entries, loyalty_settings):
        await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    prefix = f"{tenant_id}:"
    await session.execute(delete(outbox).where(func.left(outbox.c.key, len(prefix)) == prefix))


async def forget_published_api_events(
    session: AsyncSession, tenant_id: str, profile_id: str
) -> None:
    """Drop already-published outbox rows about this profile (and its merged aliases).

    They carry personal data: events the API wrote (keyed ``tenant:crm:id``) and
    ``profile.changed`` with its contact block (keyed ``tenant:id``). Published
    rows are only kept for diagnosis, so erasure removes them at once rather than
    at pruning time; unpublished ones still go out, and the erased snapshot
    enqueued after them overwrites what consumers hold.
    """
    from crm_profile.tables import outbox, profiles

    aliases = (
        await session.execute(
            select(profiles.c.profile_id).where(
                profiles.c.tenant_id == tenant_id, profiles.c.merged_into == profile_id
            )
        )
    ).scalars()
    keys = [f"{tenant_id}:{k}" for pid in [profile_id, *aliases] for k in (pid, f"crm:{pid}")]
    await session.execute(
        delete(outbox).where(outbox.c.key.in_(keys), outbox.c.published_at.is_not(None))
    )
