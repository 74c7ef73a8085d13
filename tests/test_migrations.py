"""Migrations describe the schema: an empty database migrated to head is what ``tables.py`` says.

For every service: upgrade an empty database to head, compare it with the
service's metadata the way ``alembic check`` does (autogenerate, with types and
server defaults compared), downgrade to base (nothing of the service may be
left), upgrade again and compare again.

Autogenerate does not compare an index's ``WHERE`` (partial indexes) nor check
constraints, so the indexes and constraints are also compared with those of a
reference schema built by ``create_all`` from the same metadata, as PostgreSQL
itself prints them (``pg_get_indexdef`` / ``pg_get_constraintdef``).
"""

from __future__ import annotations

import asyncio
import importlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from crm_common.migrations import alembic_config, upgrade

pytestmark = pytest.mark.infra

SERVICES = ("ingest", "profile", "segment", "messaging", "dashboard")

# Modules whose tables are on a service's metadata besides ``crm_<name>.tables``:
# the same imports as the service's ``migrations/env.py``.
EXTRA_TABLE_MODULES = {"messaging": ("crm_messaging.tables_campaigns",)}


def _metadata(service: str) -> MetaData:
    for module in EXTRA_TABLE_MODULES.get(service, ()):
        importlib.import_module(module)
    metadata: MetaData = importlib.import_module(f"crm_{service}.tables").metadata
    return metadata


async def _admin(admin_url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def empty_database(infra: Any) -> Iterator[str]:
    """The asyncpg URL of a new, empty database (dropped afterwards)."""
    name = f"crm_migrations_{uuid.uuid4().hex[:10]}"
    admin_url = infra.pg_url("postgresql", database="postgres")
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield infra.pg_url(database=name)
    finally:
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _compare(connection: Connection, metadata: MetaData) -> list[Any]:
    schema = metadata.schema

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        # Only the service's own schema (the database holds nothing else, but
        # ``public`` is always there).
        return name == schema if type_ == "schema" else True

    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_schemas": True,
            "include_name": include_name,
            # As in crm_common.migrations.run_env: skipped by the comparison.
            "version_table_schema": schema,
        },
    )
    return list(compare_metadata(context, metadata))


async def _inspect(url: str, metadata: MetaData) -> tuple[list[Any], list[str]]:
    """Autogenerate's differences, and what else than the version table the schema holds."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_compare, metadata)
            rows = await conn.execute(
                text(
                    "SELECT c.relname || ' (' || c.relkind::text || ')' FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = :schema AND c.relname NOT LIKE 'alembic_version%' "
                    "ORDER BY 1"
                ),
                {"schema": metadata.schema},
            )
            left = [str(r[0]) for r in rows]
    finally:
        await engine.dispose()
    return diff, left


def _create_reference(connection: Connection, metadata: MetaData, reference: str) -> None:
    """The metadata's tables, created by SQLAlchemy in schema ``reference``."""
    connection.execute(text(f'CREATE SCHEMA "{reference}"'))
    copy = MetaData(naming_convention=metadata.naming_convention)
    for table in metadata.sorted_tables:
        table.to_metadata(copy, schema=reference)  # same-schema foreign keys follow
    copy.create_all(connection)


_CATALOG = text(
    """
    SELECT 'index ' || i.indexname, replace(i.indexdef, ' ON ' || :schema || '.', ' ON .')
    FROM pg_indexes AS i WHERE i.schemaname = :schema AND i.tablename <> 'alembic_version'
    UNION ALL
    SELECT 'constraint ' || c.relname || '.' || k.conname || ' (' || k.contype::text || ')',
           replace(pg_get_constraintdef(k.oid), ' ' || :schema || '.', ' .')
    FROM pg_constraint AS k
    JOIN pg_class AS c ON c.oid = k.conrelid
    JOIN pg_namespace AS n ON n.oid = c.relnamespace
    WHERE n.nspname = :schema AND c.relname <> 'alembic_version'
      AND k.contype <> 'n'  -- NOT NULL (PostgreSQL 18): compared by autogenerate already
    """
)


async def _catalog(url: str, schema: str, build_from: MetaData | None = None) -> dict[str, str]:
    """Indexes and constraints of ``schema`` (names relative to the schema).

    With ``build_from``: first create ``schema`` from that metadata (the reference).
    """
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if build_from is not None:
                await conn.run_sync(_create_reference, build_from, schema)
            rows = await conn.execute(_CATALOG, {"schema": schema})
            return {str(r[0]): str(r[1]) for r in rows}
    finally:
        await engine.dispose()


def _catalog_differences(migrated: dict[str, str], reference: dict[str, str]) -> list[str]:
    out = []
    for key in sorted(migrated.keys() | reference.keys()):
        if migrated.get(key) == reference.get(key):
            continue
        if key not in reference and key.endswith("(c)"):
            # A check constraint that only the migrations make (dashboard's
            # ck_users_role): the database is stricter than the model, which is
            # not a drift autogenerate or create_all would repair.
            continue
        out.append(f"{key}: migrated {migrated.get(key)!r} != model {reference.get(key)!r}")
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_match_models(service: str, empty_database: str) -> None:
    package = f"crm_{service}"
    metadata = _metadata(service)

    upgrade(package, empty_database)
    diff, _ = asyncio.run(_inspect(empty_database, metadata))
    assert diff == [], f"{service}: head differs from tables.py: {diff}"
    reference = asyncio.run(_catalog(empty_database, f"{service}_reference", metadata))
    assert reference, "the reference schema has no indexes or constraints?"
    migrated = asyncio.run(_catalog(empty_database, service))
    assert _catalog_differences(migrated, reference) == [], service

    command.downgrade(alembic_config(package, empty_database), "base")
    _, left = asyncio.run(_inspect(empty_database, metadata))
    assert left == [], f"{service}: downgrade to base left {left}"

    upgrade(package, empty_database)
    diff, _ = asyncio.run(_inspect(empty_database, metadata))
    assert diff == [], f"{service}: head (after downgrade) differs from tables.py: {diff}"
    migrated = asyncio.run(_catalog(empty_database, service))
    assert _catalog_differences(migrated, reference) == [], service
