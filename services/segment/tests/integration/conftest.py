"""A fresh PostgreSQL database per test session for the segment read model,
on the server the root conftest's ``infra`` fixture provides."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest_asyncio
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crm_segment.readmodel import create_read_model

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))


def _dsn(url: URL) -> str:
    """asyncpg wants a plain ``postgresql://`` DSN."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: URL, statement: str) -> None:
    conn = await asyncpg.connect(_dsn(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def postgres_url(infra: Any) -> AsyncIterator[str]:
    """The SQLAlchemy asyncpg URL of a fresh database ``segment_test_<hex>`` on the run's server."""
    admin = make_url(infra.pg_url(database="postgres"))
    name = f"segment_test_{uuid.uuid4().hex[:12]}"
    await _admin(admin, f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        await _admin(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def read_model_engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on the test database with the read-model tables created."""
    engine = create_async_engine(postgres_url, pool_size=2)
    await create_read_model(engine)
    try:
        yield engine
    finally:
        await engine.dispose()
