"""SQL of erasure: one person's rows (by profile ids), the order lines, a tenant's rows."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import Any

from sqlalchemy import RowMapping, delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging import tables_campaigns, tables_journeys
from crm_messaging.tables import (
    call_list,
    call_outcomes,
    dm_batch_items,
    messages,
    metadata,
    orders,
    outbox,
    profile_aliases,
    recipients,
    tenants,
)

m, r = messages, recipients
EMPTY = text("'{}'::jsonb")


async def aliases_of(session: AsyncSession, tenant_id: str, profile_id: str) -> list[str]:
    """The profile id and every record merged into it (aliases point at the last survivor)."""
    a = profile_aliases
    rows = await session.execute(
        select(a.c.merged_id).where(a.c.tenant_id == tenant_id, a.c.survivor_id == profile_id)
    )
    return [profile_id, *sorted(rows.scalars())]


async def lock_recipients(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> Sequence[RowMapping]:
    rows = await session.execute(
        select(r.c.profile_id, r.c.traits, r.c.email, r.c.phone)
        .where(r.c.tenant_id == tenant_id, r.c.profile_id.in_(sorted(profile_ids)))
        .order_by(r.c.profile_id)
        .with_for_update()
    )
    return rows.mappings().all()


async def set_recipient(
    session: AsyncSession, tenant_id: str, profile_id: str, traits: dict[str, Any]
) -> None:
    await session.execute(
        r.update()
        .where(r.c.tenant_id == tenant_id, r.c.profile_id == profile_id)
        .values(traits=traits, email=None, phone=None, updated_at=func.now())
    )


async def messages_of(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str], states: Iterable[str]
) -> Sequence[RowMapping]:
    """The people's messages in ``states``, locked (in id order)."""
    rows = await session.execute(
        select(m)
        .where(
            m.c.tenant_id == tenant_id,
            m.c.profile_id.in_(sorted(profile_ids)),
            m.c.state.in_(list(states)),
        )
        .order_by(m.c.message_id)
        .with_for_update()
    )
    return rows.mappings().all()


async def scrub_messages(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str], in_flight: Iterable[str]
) -> list[str]:
    """Drop what was written to the people; inline templates only of messages no longer
    ``in_flight``. Returns every message id of the people."""
    where = (m.c.tenant_id == tenant_id, m.c.profile_id.in_(sorted(profile_ids)))
    await session.execute(
        update(m)
        .where(*where, m.c.state.not_in(list(in_flight)), m.c.inline_parts.is_not(None))
        .values(inline_parts=None)
    )
    result = await session.execute(
        update(m)
        .where(*where)
        .values(rendered=None, context=EMPTY, detail=None)
        .returning(m.c.message_id)
    )
    return sorted(result.scalars())


async def pending_dm_messages(session: AsyncSession, message_ids: Collection[str]) -> list[str]:
    """Of these messages, those whose piece waits in a print batch not yet exported."""
    i = dm_batch_items
    rows = await session.execute(
        select(i.c.message_id).where(i.c.message_id.in_(list(message_ids)), i.c.state == "pending")
    )
    return sorted(rows.scalars())


async def delete_dm_items(session: AsyncSession, message_ids: Collection[str]) -> None:
    i = dm_batch_items
    await session.execute(delete(i).where(i.c.message_id.in_(list(message_ids))))


async def scrub_calls(session: AsyncSession, message_ids: Collection[str]) -> None:
    """Call list entries keep their reason and outcomes; nobody calls an erased person."""
    c, o = call_list, call_outcomes
    ids = list(message_ids)
    await session.execute(
        update(c)
        .where(c.c.entry_id.in_(ids))
        .values(name=None, phone=None, script=EMPTY, state="done")
    )
    await session.execute(update(o).where(o.c.entry_id.in_(ids)).values(note=None))


async def scrub_runs(session: AsyncSession, tenant_id: str, profile_ids: Collection[str]) -> None:
    runs = tables_journeys.journey_runs
    await session.execute(
        update(runs)
        .where(runs.c.tenant_id == tenant_id, runs.c.profile_id.in_(sorted(profile_ids)))
        .values(context=EMPTY)
    )


async def order_ids_of(
    session: AsyncSession, tenant_id: str, profile_ids: Collection[str]
) -> set[str]:
    """Orders attributed to the people (journey facts and attributions know whose they are)."""
    f, at = tables_journeys.journey_facts, tables_campaigns.attributions
    pids = sorted(profile_ids)
    facts = await session.execute(
        select(f.c.ref).where(
            f.c.tenant_id == tenant_id, f.c.profile_id.in_(pids), f.c.kind == "order"
        )
    )
    attributed = await session.execute(
        select(at.c.order_id).where(at.c.tenant_id == tenant_id, at.c.profile_id.in_(pids))
    )
    return set(facts.scalars()) | set(attributed.scalars())


async def scrub_orders(
    session: AsyncSession,
    tenant_id: str,
    *,
    profile_ids: Collection[str] = (),
    emails: Collection[str] = (),
    phones: Collection[str] = (),
    order_ids: Collection[str] = (),
) -> None:
    """Order lines keep products and times (recommendations); who bought them goes."""
    o = orders
    match = [
        column.in_(sorted(values))
        for column, values in (
            (o.c.profile_id, profile_ids),
            (o.c.email, emails),
            (o.c.phone, phones),
            (o.c.order_id, order_ids),
        )
        if values
    ]
    if not match:
        return
    await session.execute(
        update(o)
        .where(o.c.tenant_id == tenant_id, or_(*match))
        .where(or_(o.c.email.is_not(None), o.c.phone.is_not(None)))
        .values(email=None, phone=None)
    )


async def erase_tenant(session: AsyncSession, tenant_id: str) -> None:
    """Delete every row of the tenant in the schema, its outbox rows included.

    ``tenants`` stays: it is the tenant's configuration as published on the
    compacted crm.tenants.v1 (API key hashes, no personal data), owned by ingest.
    """
    for table in reversed(metadata.sorted_tables):
        if table is not tenants and "tenant_id" in table.c:
            await session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    prefix = f"{tenant_id}:"
    await session.execute(delete(outbox).where(func.left(outbox.c.key, len(prefix)) == prefix))
