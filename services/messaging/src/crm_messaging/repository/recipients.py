"""The recipients read model (profile.changed / profile.merged) and order lines."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.normalize import normalize_email
from crm_messaging.domain.recommend import OrderBasket
from crm_messaging.tables import orders, profile_aliases, recipients


async def upsert_snapshot(
    session: AsyncSession, tenant_id: str, profile_id: str, version: int, traits: dict[str, Any]
) -> None:
    """Keep the highest version per profile, whatever the arrival order."""
    values = {
        "tenant_id": tenant_id,
        "profile_id": profile_id,
        "version": version,
        "traits": traits,
        "email": normalize_email(traits.get("email")),
        "phone": traits.get("phone"),
    }
    stmt = pg_insert(recipients).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "profile_id"],
        set_={k: stmt.excluded[k] for k in ("version", "traits", "email", "phone")}
        | {"updated_at": func.now()},
        where=recipients.c.version < stmt.excluded.version,
    )
    await session.execute(stmt)


async def add_alias(
    session: AsyncSession, tenant_id: str, merged_id: str, survivor_id: str
) -> None:
    a = profile_aliases
    stmt = pg_insert(a).values(tenant_id=tenant_id, merged_id=merged_id, survivor_id=survivor_id)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "merged_id"], set_={"survivor_id": survivor_id}
    )
    await session.execute(stmt)
    # Whoever pointed at the merged profile now points at its survivor.
    await session.execute(
        a.update()
        .where(a.c.tenant_id == tenant_id, a.c.survivor_id == merged_id)
        .values(survivor_id=survivor_id)
    )


async def resolve_aliases(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """(tenant, profile id) -> the surviving profile id (itself when never merged)."""
    wanted = list(set(keys))
    resolved = {key: key[1] for key in wanted}
    if not wanted:
        return resolved
    a = profile_aliases
    rows = await session.execute(
        select(a.c.tenant_id, a.c.merged_id, a.c.survivor_id).where(
            tuple_(a.c.tenant_id, a.c.merged_id).in_(wanted)
        )
    )
    for tenant_id, merged_id, survivor_id in rows:
        resolved[(tenant_id, merged_id)] = survivor_id
    return resolved


async def load_traits(
    session: AsyncSession, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Latest traits per (tenant, profile id), for the ids known to the read model."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    r = recipients
    rows = await session.execute(
        select(r.c.tenant_id, r.c.profile_id, r.c.traits).where(
            tuple_(r.c.tenant_id, r.c.profile_id).in_(wanted)
        )
    )
    return {(t, p): traits for t, p, traits in rows}


async def record_order(
    session: AsyncSession,
    tenant_id: str,
    order_id: str,
    *,
    profile_id: str | None,
    email: str | None,
    phone: str | None,
    product_ids: Sequence[str],
    titles: dict[str, str],
    placed_at: datetime,
) -> None:
    stmt = pg_insert(orders).values(
        tenant_id=tenant_id,
        order_id=order_id,
        profile_id=profile_id,
        email=normalize_email(email),
        phone=phone,
        product_ids=list(product_ids),
        titles=titles,
        placed_at=placed_at,
    )
    await session.execute(stmt.on_conflict_do_nothing(index_elements=["tenant_id", "order_id"]))


async def profile_products(
    session: AsyncSession,
    tenant_id: str,
    profile_id: str,
    email: str | None,
    phone: str | None,
) -> list[str]:
    """Products this person bought, matched by profile id, email or phone."""
    o = orders
    match = [o.c.profile_id == profile_id]
    if normalize_email(email):
        match.append(o.c.email == normalize_email(email))
    if phone:
        match.append(o.c.phone == phone)
    rows = await session.execute(
        select(o.c.product_ids).where(o.c.tenant_id == tenant_id, or_(*match))
    )
    return sorted({p for (ids,) in rows for p in ids})


async def order_history(
    session: AsyncSession, tenant_id: str, limit: int = 20000
) -> tuple[list[OrderBasket], dict[str, str]]:
    """The tenant's most recent orders as baskets (bounded, newest first) and product titles."""
    o = orders
    rows = await session.execute(
        select(o.c.order_id, o.c.profile_id, o.c.email, o.c.product_ids, o.c.titles)
        .where(o.c.tenant_id == tenant_id)
        .order_by(o.c.placed_at.desc())
        .limit(limit)
    )
    baskets: list[OrderBasket] = []
    titles: dict[str, str] = {}
    for order_id, pid, email, ids, names in rows:
        baskets.append(OrderBasket(profile_id=pid or email or order_id, product_ids=tuple(ids)))
        for product, title in (names or {}).items():
            titles.setdefault(product, title)  # newest order's title wins
    return baskets, titles


async def set_consent(
    session: AsyncSession, tenant_id: str, profile_id: str, channel: str, state: str
) -> None:
    """Apply an unsubscribe locally at once (the profile's next snapshot confirms it)."""
    r = recipients
    await session.execute(
        r.update()
        .where(r.c.tenant_id == tenant_id, r.c.profile_id == profile_id)
        .values(traits=r.c.traits.op("||")(func.jsonb_build_object(f"consent_{channel}", state)))
    )
