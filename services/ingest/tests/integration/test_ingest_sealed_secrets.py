"""Webhook secrets are sealed at rest with INGEST_SECRETS_KEY: the database holds no
plaintext, a sealed secret moved to another tenant's row opens nowhere, keys rotate
(newest seals, all open, the worker reseals), and the data migration seals the
secrets stored before it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from ingest_it import ADMIN_TOKEN, create_tenant, fixture_bytes, post_webhook, run_service, unique
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.migrations import alembic_config, upgrade
from crm_common.secrets import UnsafeSecrets
from crm_ingest.sealing import SecretBox, key_id_of, secret_row

pytestmark = pytest.mark.infra

K1 = "first-secrets-key-0123456789abcdef"
K2 = "second-secrets-key-0123456789abcdef"
K3 = "unrelated-secrets-key-0123456789abcdef"


async def _sql(url: str, statement: str, **params: Any) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def _secret_rows(url: str, tenant_id: str) -> list[Any]:
    statement = "SELECT * FROM ingest.webhook_secrets WHERE tenant_id = :t"
    return await _sql(url, statement, t=tenant_id)


def _order(url: str, tenant: dict[str, Any], secret: str | None = None) -> int:
    """The status of an orders/create signed with ``secret`` (the tenant's own)."""
    signer = {**tenant, "secret": secret or tenant["secret"]}
    body = fixture_bytes("order.json")
    return post_webhook(url, signer, "orders/create", body, unique("wh")).status_code


async def test_the_database_holds_no_webhook_secret_in_plaintext(ingest, infra) -> None:
    one, two = create_tenant(ingest.url), create_tenant(ingest.url)
    url = infra.pg_url()

    rows = await _secret_rows(url, one["tenant_id"])

    assert len(rows) == 1
    assert all(one["secret"] not in str(value) for value in rows[0])
    assert rows[0].sealed_secret.startswith("v1.")
    assert _order(ingest.url, one) == 200
    # Write access to the table is not enough to plant a known secret: tenant one's
    # sealed secret copied into tenant two's row opens nowhere (it names its row).
    await _sql(
        url,
        "UPDATE ingest.webhook_secrets SET sealed_secret = :s WHERE tenant_id = :t",
        s=rows[0].sealed_secret,
        t=two["tenant_id"],
    )
    assert _order(ingest.url, two, one["secret"]) == 401
    assert _order(ingest.url, two) == 401


def _service(infra: Any, keys: str) -> Any:
    return run_service(
        "ingest",
        infra,
        {
            "INGEST_ADMIN_TOKEN": ADMIN_TOKEN,
            "INGEST_SECRETS_KEY": keys,
            "INGEST_IMPORT_STALE_SECONDS": "2",  # the worker's upkeep (reseal) every second
        },
    )


async def _until_sealed_with(url: str, tenant_id: str, key_id: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        rows = await _secret_rows(url, tenant_id)
        if {key_id_of(r.sealed_secret) for r in rows} == {key_id}:
            return
        assert time.monotonic() < deadline, f"not resealed: {[r.sealed_secret[:20] for r in rows]}"
        await asyncio.sleep(0.2)


async def test_keys_rotate_newest_first_and_the_worker_reseals(infra) -> None:
    url = infra.pg_url()
    with _service(infra, K1) as svc:
        tenant = create_tenant(svc.url)
        assert _order(svc.url, tenant) == 200
    rows = await _secret_rows(url, tenant["tenant_id"])
    assert key_id_of(rows[0].sealed_secret) == SecretBox([K1]).newest_key_id

    with _service(infra, f"{K2},{K1}") as svc:  # a new key in front: all still open
        assert _order(svc.url, tenant) == 200
        await _until_sealed_with(url, tenant["tenant_id"], SecretBox([K2]).newest_key_id)
    with _service(infra, K2) as svc:  # the old key dropped once resealed
        assert _order(svc.url, tenant) == 200
    with _service(infra, K3) as svc:  # a key that sealed nothing opens nothing
        assert _order(svc.url, tenant) == 401


@pytest.fixture
def empty_database(infra: Any) -> Iterator[str]:
    import asyncpg

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(infra.pg_url("postgresql", database="postgres"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    name = f"crm_sealing_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield infra.pg_url(database=name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_migration_seals_the_secrets_stored_before_it(
    empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command

    url = empty_database
    upgrade("crm_ingest", url, "ingest_0005")
    for statement in (
        "INSERT INTO ingest.tenants (tenant_id, name, timezone, currency, shop_domains, "
        "api_key_hashes, status, version) VALUES ('t_old', 'Old', 'Asia/Tokyo', 'JPY', "
        "'{}', '{}', 'active', 1)",
        "INSERT INTO ingest.webhook_secrets (secret_id, tenant_id, secret) "
        "VALUES ('ws_old', 't_old', 'shpss_stored_in_plaintext')",
    ):
        asyncio.run(_sql(url, statement))

    # Outside dev mode the published default key is refused and nothing changes.
    monkeypatch.delenv("CRM_DEV_MODE", raising=False)
    monkeypatch.delenv("INGEST_SECRETS_KEY", raising=False)
    with pytest.raises(UnsafeSecrets, match="INGEST_SECRETS_KEY: the published default"):
        upgrade("crm_ingest", url, "ingest_0006")
    monkeypatch.setenv("INGEST_SECRETS_KEY", K1)
    upgrade("crm_ingest", url, "ingest_0006")

    [row] = asyncio.run(_sql(url, "SELECT * FROM ingest.webhook_secrets"))
    assert "secret" not in row._fields
    assert "shpss_stored_in_plaintext" not in row.sealed_secret
    assert SecretBox([K1]).open(row.sealed_secret, row=secret_row("t_old", "ws_old")) == (
        "shpss_stored_in_plaintext"
    )
    command.downgrade(alembic_config("crm_ingest", url), "ingest_0005")
    [row] = asyncio.run(_sql(url, "SELECT * FROM ingest.webhook_secrets"))
    assert row.secret == "shpss_stored_in_plaintext"
