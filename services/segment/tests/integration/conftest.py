"""Integration fixtures: a fresh database for the read-model agreement tests, and
the segment service running as a real process with a shared, movable clock,
a producer for crm.profiles.v1 and a background reader of crm.segments.v1."""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crm_common.clock import OffsetFileClock
from crm_common.db import Database
from crm_common.kafka import Producer
from crm_segment.readmodel import create_read_model

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from segment_it import Shop, TopicLog, load_services, new_shop


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


# -- the running segment service and its topics ------------------------------------------


@pytest.fixture(scope="session")
def clock_file() -> Iterator[str]:
    folder = tempfile.mkdtemp(prefix="segment-clock-")
    path = os.path.join(folder, "offset")
    with open(path, "w") as handle:
        handle.write("0")
    yield path


@pytest.fixture(scope="session")
def clock(clock_file: str) -> OffsetFileClock:
    return OffsetFileClock(Path(clock_file))


@pytest.fixture(scope="session")
def segment_service(infra: Any, clock_file: str) -> Iterator[Any]:
    """The segment service as a real process, sharing the test's clock, sweeping every second."""
    env = {
        "CRM_CLOCK_FILE": clock_file,
        "SEGMENT_SWEEP_SECONDS": "1",
        "SEGMENT_FILL_CHUNK_PROFILES": "5000",
        "LOG_LEVEL": "WARNING",
    }
    with load_services().run_service("segment", infra, env) as svc:
        yield svc


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def db(infra: Any) -> AsyncIterator[Database]:
    database = Database(infra.pg_url(), pool_size=2)
    yield database
    await database.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def producer(infra: Any) -> AsyncIterator[Producer]:
    kafka_producer = Producer(infra.kafka_settings())
    await kafka_producer.start()
    yield kafka_producer
    await kafka_producer.stop()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def segment_events(infra: Any) -> AsyncIterator[TopicLog]:
    log = TopicLog(infra)
    await log.start()
    yield log
    await log.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def shop(segment_service: Any, producer: Producer) -> AsyncIterator[Shop]:
    """A fresh tenant configured through crm.tenants.v1, known to the running service."""
    client = await new_shop(segment_service.url, producer)
    yield client
    await client.http.aclose()
