"""Fixtures of the profile integration tests (helpers live in profile_it.py)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profile_it import load_run_service

from crm_common.db import Database


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def profile_db(infra: Any) -> AsyncIterator[Database]:
    db = Database(infra.pg_url(), pool_size=4)
    try:
        yield db
    finally:
        await db.close()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def producer(lane: Any) -> AsyncIterator[Any]:
    """Produces to this module's own topics (the ``lane``), which its services read."""
    from crm_common.kafka import Producer

    p = Producer(lane.kafka_settings())
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture(scope="module")
def profile_service(lane: Any) -> Iterator[Any]:
    """The profile service as a real process (consumer, relay and REST API)."""
    with load_run_service()("profile", lane) as svc:
        yield svc
