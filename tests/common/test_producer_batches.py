"""Producer.send_many sends whole record batches per partition: every record lands on
the partition ``send`` would choose for its key (one customer's records stay together,
whichever path sent them), in order per key, with its headers, and the batch path
carries records bigger than one producer batch."""

from __future__ import annotations

import pytest
from topic_reader import read_topic

from crm_common.kafka import Producer, ensure_topics

pytestmark = pytest.mark.infra


async def test_send_many_puts_each_key_where_send_does_in_order(infra) -> None:
    kafka = infra.kafka_settings().model_copy(
        update={"topic_prefix": f"{infra.topic_prefix}batches."}
    )
    await ensure_topics(kafka, ["crm.events.v1"])
    topic = kafka.topic("crm.events.v1")
    producer = Producer(kafka, client_id="test-batches")
    await producer.start()
    try:
        keys = [f"tenant:customer-{k}" for k in range(40)]
        where = {key: (await producer.send(topic, b"probe", key=key)).partition for key in keys}
        records = [
            (
                topic,
                keys[i % 40],
                f"{i:05d}".encode() + b"x" * (i % 7) * 100,
                [("n", str(i).encode())],
            )
            for i in range(2_000)
        ]
        big = (topic, keys[3], b"B" * (2 * 1024 * 1024), None)  # more than one 1 MiB batch
        await producer.send_many([*records[:1000], big, *records[1000:]])
    finally:
        await producer.stop()

    found = [r for r in await read_topic(infra.bootstrap, topic) if r.value != b"probe"]

    assert len(found) == 2_001
    assert all(r.partition == where[r.key.decode()] for r in found)
    by_key: dict[str, list[int]] = {}
    for r in found:
        if r.value.startswith(b"B"):
            assert (r.key.decode(), len(r.value)) == (keys[3], 2 * 1024 * 1024)
            continue
        n = int(r.value[:5])
        assert dict(r.headers) == {"n": str(n).encode()}
        by_key.setdefault(r.key.decode(), []).append(n)
    assert all(ns == sorted(ns) for ns in by_key.values())
    assert sorted(n for ns in by_key.values() for n in ns) == list(range(2_000))
