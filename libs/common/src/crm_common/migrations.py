"""Alembic per service schema, run programmatically.

Each service has ``crm_<name>/migrations`` (``env.py`` calls :func:`run_env`,
dated revision files under ``versions/``). :func:`upgrade` creates the schema
if needed and runs the service's revisions, with the version table inside the
service's own schema.
"""

from __future__ import annotations

import asyncio
from importlib import resources
from typing import Any

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def alembic_config(package: str, url: str) -> Config:
    """Config for the migrations of ``package`` (e.g. ``crm_profile``)."""
    location = resources.files(package) / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(location))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def upgrade(package: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, url), revision)


def run_env(metadata: MetaData) -> None:
    """Body of a service's ``env.py``: online migrations on an asyncpg engine."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    schema = metadata.schema
    assert schema is not None

    def do_run(connection: Connection) -> None:
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table_schema=schema,
            include_schemas=False,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            # Serialise concurrent migrators of the same schema (several replicas starting).
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": schema})
            await conn.run_sync(do_run)
        await engine.dispose()

    _run(main())


def _run(coro: Any) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    # Called from inside a running loop (tests): run in a fresh thread's loop.
    import threading

    error: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:
            error.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
