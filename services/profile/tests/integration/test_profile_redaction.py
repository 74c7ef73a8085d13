"""Erasure leaves no name, email, phone or address anywhere in the profile schema.

Personal data enters through a consumed ``customer.upserted`` and an API
``PATCH`` (whose event also sits in the outbox); it is erased once through a
consumed ``privacy.redact_requested`` (person A) and once through
``DELETE /v1/profiles/{id}`` (person B). Then every text, JSON and bytea
column of every table of the schema is searched for each value; orders and
traits (anonymous aggregates) survive.
"""

from __future__ import annotations

import httpx
import pytest
from profile_events import at, customer, ident, new_tenant, placed
from profile_it import live_profiles, make_tenant, produce, until
from sqlalchemy import text

from crm_common.events import Identity, PrivacyRedactRequested
from crm_common.events.customers import PrivacyRequestData

pytestmark = pytest.mark.infra

ADDRESS = {
    "postal_code": "1500041",
    "prefecture": "東京都",
    "city": "渋谷区神南",
    "address1": "一丁目19番11号",
    "address2": "パークウェースクエア4階",
}


def personal(n: int) -> dict:
    return {
        "first_name": f"紗{n}希",
        "last_name": f"冴木{n}",
        "first_name_kana": f"サキ{n}",
        "last_name_kana": f"サエキ{n}",
        "address": {**ADDRESS, "address1": f"{n}丁目19番11号"},
    }


async def _texts(db, tenant: str) -> list[str]:
    """Every text-like value stored about ``tenant`` in any table of the profile schema
    (the run's other modules share the database: their people are not ours)."""
    async with db.transaction() as session:
        columns = await session.execute(
            text(
                "SELECT table_name, column_name, data_type, EXISTS (SELECT 1 FROM "
                "information_schema.columns t WHERE t.table_schema = c.table_schema AND "
                "t.table_name = c.table_name AND t.column_name = 'tenant_id') "
                "FROM information_schema.columns c "
                "WHERE table_schema = 'profile' AND data_type IN "
                "('text', 'jsonb', 'json', 'bytea', 'character varying', 'ARRAY')"
            )
        )
        values: list[str] = []
        for table, column, kind, tenanted in columns:
            cast = f"convert_from(\"{column}\", 'UTF8')" if kind == "bytea" else f'"{column}"::text'
            scope = {True: "tenant_id = :t", False: "true"}[tenanted]
            if table == "outbox":
                scope = "key LIKE :t || ':%'"
            rows = await session.execute(
                text(
                    f'SELECT {cast} FROM profile."{table}" WHERE "{column}" IS NOT NULL AND {scope}'
                ),
                {"t": tenant},
            )
            values += [r[0] for r in rows]
    return values


async def test_erasure_leaves_no_personal_data_in_any_table(
    profile_service, profile_db, producer
) -> None:
    tenant = new_tenant()
    key = await make_tenant(profile_db, tenant)
    people = {
        "a": (ident(email="Erase.Me@Example.com", phone="090-4444-1111", customer="e1"), 1),
        "b": (ident(email="forget.me@example.org", phone="080-4444-2222"), 2),
    }
    events = []
    for label, (who, n) in people.items():
        events.append(customer(tenant, f"cu-{label}", 1, who, **personal(n)))
        events.append(placed(tenant, f"o-{label}", 4000 + n, 2, who))
    await produce(producer, "crm.events.v1", events)

    async def both() -> list:
        rows = await live_profiles(profile_db, tenant)
        return rows if len(rows) == 2 and all(r.traits["orders_count"] == 1 for r in rows) else []

    rows = await until(both)
    by_email = {r.traits["email_domain"]: r.profile_id for r in rows}
    a, b = by_email["example.com"], by_email["example.org"]
    client = httpx.AsyncClient(base_url=profile_service.url, headers={"X-Api-Key": key})
    patched = await client.patch(f"/v1/profiles/{b}", json={"address": {"city": "目黒区下目黒"}})
    assert patched.status_code == 200
    assert patched.json()["attributes"]["address_city"] == "目黒区下目黒"

    async def relayed() -> bool:
        async with profile_db.transaction() as session:
            pending = await session.scalar(
                text("SELECT count(*) FROM profile.outbox WHERE published_at IS NULL")
            )
        return pending == 0

    await until(relayed)
    before = "\n".join(await _texts(profile_db, tenant))
    assert all(v in before for v in ("erase.me@example.com", "+818044442222", "目黒区下目黒"))
    redact = PrivacyRedactRequested(
        event_id=f"{tenant}:redact-a",
        tenant_id=tenant,
        source="shopify",
        occurred_at=at(40),
        received_at=at(40),
        identity=Identity(email="erase.me@example.com", external_ids={"shopify": "e1"}),
        data=PrivacyRequestData(request_id="rq-1", customer_id="e1", orders=["o-a"]),
    )
    await produce(producer, "crm.events.v1", [redact])
    deleted = await client.delete(f"/v1/profiles/{b}")
    assert deleted.status_code == 200
    assert deleted.json()["redacted_at"] is not None

    async def redacted() -> list:
        rows = await live_profiles(profile_db, tenant)
        return rows if all(r.redacted_at is not None for r in rows) else []

    rows = await until(redacted)
    stored = "\n".join(await _texts(profile_db, tenant))
    forbidden = [
        "erase.me",
        "Erase.Me",
        "forget.me",
        "+819044441111",
        "+818044442222",
        "090-4444-1111",
        "080-4444-2222",
        "150-0041",
        "1500041",
        "渋谷区神南",
        "目黒区下目黒",
        "パークウェースクエア4階",
    ]
    for n in (1, 2):
        forbidden += [v for v in personal(n).values() if isinstance(v, str)]
        forbidden.append(f"{n}丁目19番11号")
    assert [value for value in forbidden if value in stored] == []
    for row in rows:
        assert row.traits["orders_count"] == 1
        assert row.traits["has_email"] is False
        assert row.traits["redacted"] is True
    view = (await client.get(f"/v1/profiles/{a}")).json()
    assert view["attributes"]["first_name"] is None
    assert view["attributes"]["email"] is None
    assert view["identifiers"] == [{"kind": "external_id", "value": "shopify:e1"}]
    assert view["traits"]["total_spent"] == "4001"
    await client.aclose()
