"""A standby relay recovers its readiness after an outage (found by the fault run,
issue 17): with two replicas, the one that does not hold a schema's advisory lock
kept the error of a PostgreSQL restart as its problem for good, because only a
publishing relay cleared it; its /readyz answered 503 ``relay:<schema>`` forever."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from ledger import Ledger

from crm_common.db import Database
from crm_common.kafka import Producer
from crm_common.outbox import OutboxRelay

pytestmark = pytest.mark.infra


async def _until(check, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_a_standby_relay_is_ready_again_once_the_database_answers(infra) -> None:
    run = uuid.uuid4().hex[:8]
    kafka = infra.kafka_settings().model_copy(
        update={"topic_prefix": f"{infra.topic_prefix}standby{run}."}
    )
    db_a, db_b = Database(infra.pg_url()), Database(infra.pg_url())
    ledger = Ledger(f"ledger_s_{run}")
    await ledger.create(db_a)
    producer = Producer(kafka)
    await producer.start()
    publisher = OutboxRelay(db_a, producer, ledger.schema)
    standby = OutboxRelay(db_b, producer, ledger.schema)
    real_try_lock = standby._try_lock
    outage = {"left": 1}

    async def try_lock_through_an_outage(conn):  # type: ignore[no-untyped-def]
        if outage["left"]:
            outage["left"] -= 1
            raise OSError("the database system is starting up")  # the restart's window
        return await real_try_lock(conn)

    standby._try_lock = try_lock_through_an_outage  # type: ignore[method-assign]
    await publisher.start()
    await _until(lambda: publisher.problem() is None and publisher._task is not None)
    await asyncio.sleep(0.5)  # the publisher holds the lock
    await standby.start()
    try:
        await _until(lambda: outage["left"] == 0 and standby.problem() is not None)
        # The next round reaches the database (the lock is the publisher's): ready again.
        await _until(lambda: standby.problem() is None, timeout=10)
        assert publisher.problem() is None
    finally:
        await standby.stop()
        await publisher.stop()
        await producer.stop()
        await db_a.close()
        await db_b.close()
