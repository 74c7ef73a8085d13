"""Erasure in the ingest schema (issue 12, item 7): the ``ingest-erasure`` handler on
the real database (the consumer around it runs in tests/e2e/test_e2e_erasure.py).

A person's request drops the tenant's published outbox rows (copies of what is on
the topic; ingest cannot tell whose they are), but first waits, as a transient
error, for rows written before the request that the relay has not published yet.
A shop's request drops all of the tenant: outbox rows published or not, accepted
ids, rate windows, imports with their reports and spool files. Another tenant's
rows are untouched.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text

from crm_common.db import Database
from crm_common.events import (
    CustomerUpserted,
    Identity,
    PrivacyRedactRequested,
    TenantRedactRequested,
)
from crm_common.events.customers import CustomerData, PrivacyRequestData, TenantLifecycleData
from crm_common.kafka import Message, TransientError
from crm_common.outbox import enqueue
from crm_ingest.handlers.erasure import handle
from crm_ingest.tables import (
    accepted_events,
    import_fingerprints,
    import_rejections,
    imports,
    outbox,
    rate_windows,
)

pytestmark = pytest.mark.infra


@pytest_asyncio.fixture
async def db(infra: Any) -> Any:
    database = Database(infra.pg_url(), pool_size=2)
    yield database
    await database.close()


def _envelope(tenant: str, event_id: str, at: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "tenant_id": tenant,
        "source": "shopify",
        "occurred_at": at,
        "received_at": at,
    }


def _customer(tenant: str, n: int, at: datetime) -> CustomerUpserted:
    email = f"erase-{uuid.uuid4().hex[:8]}@example.jp"
    return CustomerUpserted(
        **_envelope(tenant, f"cu-{tenant}-{n}", at),
        identity=Identity(email=email),
        data=CustomerData(email=email, first_name="紗希", last_name="冴木"),
    )


def _message(event: Any) -> Message:
    return Message("crm.events.v1", 0, 0, None, b"", [], 0, payload=event, event_id=event.event_id)


async def _write(db: Database, events: list[Any], published: bool) -> None:
    async with db.transaction() as session:
        await enqueue(session, "ingest", "crm.events.v1", events)
        if published:
            ids = [e.event_id for e in events]
            await session.execute(
                outbox.update().where(outbox.c.event_id.in_(ids)).values(published_at=func.now())
            )


async def _outbox_ids(db: Database, tenant: str) -> set[str]:
    async with db.transaction() as session:
        rows = await session.execute(
            select(outbox.c.event_id).where(outbox.c.key.startswith(f"{tenant}:"))
        )
        return set(rows.scalars())


async def _apply(db: Database, event: Any) -> None:
    async with db.transaction() as session:
        await handle(session, [_message(event)])


async def test_a_person_s_request_waits_for_older_rows_then_drops_published_copies(
    db: Database,
) -> None:
    tenant, other = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    await _write(db, [_customer(tenant, 1, now), _customer(tenant, 2, now)], published=True)
    await _write(db, [_customer(other, 1, now)], published=True)
    await _write(db, [_customer(tenant, 3, now)], published=False)
    await asyncio.sleep(0.1)
    request = PrivacyRedactRequested(
        **_envelope(tenant, f"redact-{tenant}", datetime.now(UTC)),
        identity=Identity(external_ids={"crm": "p-1"}),
        data=PrivacyRequestData(request_id="q-1"),
    )
    with pytest.raises(TransientError, match="waits for 1 outbox rows"):
        await _apply(db, request)
    assert await _outbox_ids(db, tenant) == {f"cu-{tenant}-{n}" for n in (1, 2, 3)}

    async with db.transaction() as session:  # the relay catches up
        await session.execute(
            outbox.update()
            .where(outbox.c.event_id == f"cu-{tenant}-3")
            .values(published_at=func.now())
        )
    await _apply(db, request)
    assert await _outbox_ids(db, tenant) == set()
    assert await _outbox_ids(db, other) == {f"cu-{other}-1"}

    # Rows written after the request are new data: neither waited for nor dropped.
    await asyncio.sleep(0.1)
    await _write(db, [_customer(tenant, 4, datetime.now(UTC))], published=False)
    await _apply(db, request)
    assert await _outbox_ids(db, tenant) == {f"cu-{tenant}-4"}
    await _tidy(db, tenant)


async def _import(db: Database, tenant: str, spool: Path) -> str:
    import_id = f"imp-{uuid.uuid4().hex[:8]}"
    spool.write_text("email,last_name\nerase@example.jp,冴木\n", encoding="utf-8")
    async with db.transaction() as session:
        await session.execute(
            imports.insert().values(
                import_id=import_id,
                tenant_id=tenant,
                kind="customers",
                source="csv",
                spool_path=str(spool),
                status="processing",
            )
        )
        await session.execute(
            import_rejections.insert().values(import_id=import_id, line=2, reason="email: bad")
        )
        await session.execute(
            import_fingerprints.insert().values(import_id=import_id, fingerprint="f" * 64)
        )
        await session.execute(accepted_events.insert().values(tenant_id=tenant, event_id=import_id))
        await session.execute(
            rate_windows.insert().values(tenant_id=tenant, window_start=1, hits=1)
        )
    return import_id


async def _count(db: Database, table: Any, column: Any, value: str) -> int:
    async with db.transaction() as session:
        return int(
            await session.scalar(select(func.count()).select_from(table).where(column == value))
            or 0
        )


async def test_a_shop_s_request_drops_everything_of_the_tenant(
    db: Database, tmp_path: Path
) -> None:
    tenant, other = f"t-{uuid.uuid4().hex[:8]}", f"t-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    gone_spool, kept_spool = tmp_path / "gone.csv", tmp_path / "kept.csv"
    gone = await _import(db, tenant, gone_spool)
    kept = await _import(db, other, kept_spool)
    await _write(db, [_customer(tenant, 1, now)], published=True)
    await _write(db, [_customer(tenant, 2, now)], published=False)
    await _write(db, [_customer(other, 1, now)], published=False)
    request = TenantRedactRequested(
        **_envelope(tenant, f"shop-redact-{tenant}", now),
        data=TenantLifecycleData(shop_domain="gone.myshopify.com", reason="shop/redact"),
    )
    await _apply(db, request)

    assert await _outbox_ids(db, tenant) == set()
    assert not gone_spool.exists()
    for import_id, tenant_id, left in ((gone, tenant, 0), (kept, other, 1)):
        assert await _count(db, imports, imports.c.import_id, import_id) == left
        assert await _count(db, import_rejections, import_rejections.c.import_id, import_id) == left
        assert (
            await _count(db, import_fingerprints, import_fingerprints.c.import_id, import_id)
            == left
        )
        assert await _count(db, accepted_events, accepted_events.c.tenant_id, tenant_id) == left
        assert await _count(db, rate_windows, rate_windows.c.tenant_id, tenant_id) == left
    assert kept_spool.exists()
    assert await _outbox_ids(db, other) == {f"cu-{other}-1"}
    await _tidy(db, other)


async def _tidy(db: Database, *tenants: str) -> None:
    """No relay of a later test publishes what these tests left unpublished."""
    async with db.transaction() as session:
        for tenant in tenants:
            await session.execute(
                text("DELETE FROM ingest.outbox WHERE starts_with(key, :k)"), {"k": f"{tenant}:"}
            )
