"""Erasure in messaging, on the real Kafka and Postgres (issue 12, item 7).

A person was two records: messages, a print batch piece, a call list entry and an
order line were made for the record that was later merged into the other. The
erasure request names the survivor (as profile publishes it: ``profile.activity``
of ``privacy.redact_requested``); everything of the alias is erased with it, the
survivor's message still waiting is skipped, and another person's rows are
untouched. Then an order line recorded after the erasure, naming the person's
email, is cleared by the request as it arrives on crm.events.v1 (Shopify's
``customers/redact`` names an email and order ids). And ``tenant.redact_requested``
leaves nothing of the tenant.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from messaging_it import TOKYO, Harness, Tenant, until
from messaging_it import person_traits as traits
from sqlalchemy import select, text

from crm_common.events import (
    Identity,
    OrderPlaced,
    PrivacyRedactRequested,
    ProfileActivity,
    ProfileMerged,
    TenantRedactRequested,
)
from crm_common.events.commerce import OrderData, OrderLine
from crm_common.events.customers import PrivacyRequestData, TenantLifecycleData
from crm_common.events.downstream import ProfileActivityData, ProfileMergedData
from crm_messaging.tables import call_list, dm_batch_items, messages, orders, recipients

pytestmark = pytest.mark.infra

EMAIL = {"subject": "{{ profile.last_name }}様", "text": "{{ profile.first_name }}さんへ"}
DM = {"offer": "{{ profile.last_name }}様限定"}
CALL = {"script": "{{ profile.last_name }}様にご案内"}
NOW = datetime(2026, 3, 3, 12, 0, tzinfo=TOKYO)


def _base(tenant: Tenant, event_id: str) -> dict[str, Any]:
    at = datetime.now(UTC)
    return {
        "event_id": event_id,
        "tenant_id": tenant.tenant_id,
        "source": "test",
        "occurred_at": at,
        "received_at": at,
    }


def _order(tenant: Tenant, order_id: str, email: str) -> OrderPlaced:
    return OrderPlaced(
        **_base(tenant, f"op-{order_id}"),
        identity=Identity(email=email),
        data=OrderData(
            order_id=order_id,
            placed_at=datetime.now(UTC),
            currency="JPY",
            total=1000,
            lines=[
                OrderLine(
                    product_id="tea",
                    title="緑茶",
                    quantity=1,
                    unit_price={"amount": 1000, "currency": "JPY"},
                )
            ],
        ),
    )


async def _send_all(h: Harness, tenant: Tenant, pid: str, tag: str) -> list[str]:
    ids = []
    for channel, template in (("email", EMAIL), ("postal_dm", DM), ("call", CALL)):
        m = await h.enqueue(
            tenant,
            source_kind="manual",
            source_id=f"erasure-{tag}",
            purpose="transactional",
            profile_id=pid,
            channel=channel,
            template=template,
            context={"coupon_code": f"C-{tag}"},
        )
        ids.append(m["message_id"])
    await h.dispatch()
    return ids


async def _rows(h: Harness, query: Any) -> list[Any]:
    async with h.db.transaction() as s:
        return list((await s.execute(query)).mappings().all())


async def _order_email(h: Harness, tenant: Tenant, order_id: str) -> Any:
    o = orders
    rows = await _rows(
        h,
        select(o.c.email, o.c.phone).where(
            o.c.tenant_id == tenant.tenant_id, o.c.order_id == order_id
        ),
    )
    return rows[0]["email"] if rows else "missing"


async def test_erasing_a_person_erases_their_aliases_and_spares_everyone_else(
    harness: Harness,
) -> None:
    h = harness
    h.clock.set(NOW)
    tenant = await h.tenant(quiet_hours={}, frequency_caps=[])
    run = uuid.uuid4().hex[:6]
    alias, survivor, other = f"ea-{run}", f"es-{run}", f"eo-{run}"
    people = {alias: traits(501), survivor: traits(502), other: traits(503, last_name="佐藤")}
    await h.profiles(tenant, people)
    alias_ids = await _send_all(h, tenant, alias, "alias")
    other_ids = await _send_all(h, tenant, other, "other")
    await h.producer.send_event(
        "crm.events.v1", _order(tenant, f"o-a-{run}", people[alias]["email"])
    )
    await h.producer.send_event(
        "crm.events.v1", _order(tenant, f"o-o-{run}", people[other]["email"])
    )
    until_order = lambda oid: lambda: _has_order(h, tenant, oid)  # noqa: E731
    await until(until_order(f"o-a-{run}"))
    await until(until_order(f"o-o-{run}"))
    merged = ProfileMerged(
        **_base(tenant, f"pm-{run}"),
        data=ProfileMergedData(survivor_id=survivor, merged_id=alias, merged_at=datetime.now(UTC)),
    )
    await h.producer.send_event("crm.profiles.v1", merged)
    waiting = await h.enqueue(
        tenant,
        source_kind="manual",
        source_id="erasure-later",
        purpose="transactional",
        profile_id=survivor,
        channel="email",
        template=EMAIL,
        not_before=(NOW + timedelta(days=1)).isoformat(),
    )
    redaction = ProfileActivity(
        **_base(tenant, f"pa-{run}"),
        data=ProfileActivityData(
            profile_id=survivor,
            source_event_id=f"redact-{run}",
            source_type="privacy.redact_requested",
            occurred_at=datetime.now(UTC),
            data={"request_id": f"redact-{run}", "orders": []},
        ),
    )
    await h.producer.send_event("crm.profiles.v1", redaction)

    async def erased() -> bool:
        r = recipients
        rows = await _rows(
            h, select(r.c.email).where(r.c.tenant_id == tenant.tenant_id, r.c.profile_id == alias)
        )
        return rows[0]["email"] is None

    await until(erased)
    r = recipients
    snapshots = {
        row["profile_id"]: row
        for row in await _rows(h, select(r).where(r.c.tenant_id == tenant.tenant_id))
    }
    for pid in (alias, survivor):
        assert (snapshots[pid]["email"], snapshots[pid]["phone"]) == (None, None)
        assert "last_name" not in snapshots[pid]["traits"]
        assert "address_city" not in snapshots[pid]["traits"]
        assert snapshots[pid]["traits"]["orders_count"] == 3
    assert snapshots[other]["traits"]["last_name"] == "佐藤"

    m = messages
    stored = {
        row["message_id"]: row
        for row in await _rows(h, select(m).where(m.c.tenant_id == tenant.tenant_id))
    }
    for mid in alias_ids:  # accounting stays: id, channel, state; what was written goes
        row = stored[mid]
        assert (row["rendered"], row["context"], row["detail"], row["inline_parts"]) == (
            None,
            {},
            None,
            None,
        )
        assert (row["profile_id"], row["source_id"]) == (alias, "erasure-alias")
    assert [stored[mid]["state"] for mid in alias_ids] == ["sent", "skipped", "sent"]
    assert stored[alias_ids[1]]["reason"] == "erased"  # the DM piece was never printed
    assert (stored[waiting["message_id"]]["state"], stored[waiting["message_id"]]["reason"]) == (
        "skipped",
        "erased",
    )
    for mid in other_ids:
        assert stored[mid]["rendered"] is not None
        assert stored[mid]["context"] == {"coupon_code": "C-other"}
    assert "佐藤" in str(stored[other_ids[0]]["rendered"])

    i, c = dm_batch_items, call_list
    pieces = await _rows(h, select(i.c.message_id).where(i.c.tenant_id == tenant.tenant_id))
    assert [p["message_id"] for p in pieces] == [other_ids[1]]
    entries = {
        e["entry_id"]: e for e in await _rows(h, select(c).where(c.c.tenant_id == tenant.tenant_id))
    }
    assert (entries[alias_ids[2]]["name"], entries[alias_ids[2]]["phone"]) == (None, None)
    assert (entries[alias_ids[2]]["script"], entries[alias_ids[2]]["state"]) == ({}, "done")
    assert entries[other_ids[2]]["name"] == "佐藤 花子"
    assert entries[other_ids[2]]["state"] == "open"
    assert await _order_email(h, tenant, f"o-a-{run}") is None
    assert await _order_email(h, tenant, f"o-o-{run}") == people[other]["email"]

    # A line of the person recorded after the erasure (its group was behind), and the
    # request as it arrives on crm.events.v1 naming the email and the order.
    late = f"o-late-{run}"
    await h.producer.send_event("crm.events.v1", _order(tenant, late, people[alias]["email"]))
    await until(until_order(late))
    request = PrivacyRedactRequested(
        **_base(tenant, f"pr-{run}"),
        identity=Identity(email=people[alias]["email"]),
        data=PrivacyRequestData(request_id=f"pr-{run}", orders=[late]),
    )
    await h.producer.send_event("crm.events.v1", request)

    async def late_cleared() -> bool:
        return await _order_email(h, tenant, late) is None

    await until(late_cleared)
    assert await _order_email(h, tenant, f"o-o-{run}") == people[other]["email"]


async def _has_order(h: Harness, tenant: Tenant, order_id: str) -> bool:
    return await _order_email(h, tenant, order_id) != "missing"


async def test_a_tenant_erasure_leaves_no_row_of_the_tenant(harness: Harness) -> None:
    h = harness
    h.clock.set(NOW)
    tenant = await h.tenant(quiet_hours={}, frequency_caps=[])
    kept = await h.tenant(quiet_hours={}, frequency_caps=[])
    for t in (tenant, kept):
        await h.profiles(t, {f"tp-{t.tenant_id}": traits(601)})
        await _send_all(h, t, f"tp-{t.tenant_id}", "tenant")
        await h.producer.send_event("crm.events.v1", _order(t, f"o-{t.tenant_id}", "t@example.jp"))
        await until(lambda t=t: _has_order(h, t, f"o-{t.tenant_id}"))
    shop = TenantRedactRequested(
        **_base(tenant, f"tr-{tenant.tenant_id}"),
        data=TenantLifecycleData(shop_domain="gone.myshopify.com", reason="shop/redact"),
    )
    await h.producer.send_event("crm.events.v1", shop)

    async def left(t: Tenant) -> dict[str, int]:
        counts = {}
        async with h.db.transaction() as s:
            tables = await s.execute(
                text(
                    "SELECT table_name FROM information_schema.columns "
                    "WHERE table_schema = 'messaging' AND column_name = 'tenant_id'"
                )
            )
            for (table,) in tables.all():
                n = await s.scalar(
                    text(f'SELECT count(*) FROM messaging."{table}" WHERE tenant_id = :t'),
                    {"t": t.tenant_id},
                )
                if n:
                    counts[table] = n
        return counts

    async def gone() -> bool:
        return set(await left(tenant)) <= {"tenants"}

    await until(gone)
    assert await left(tenant) == {"tenants": 1}
    kept_rows = await left(kept)
    assert {"recipients", "messages", "orders", "dm_batch_items", "call_list"} <= set(kept_rows)
    m = messages
    assert len(await _rows(h, select(m.c.message_id).where(m.c.tenant_id == kept.tenant_id))) == 3
