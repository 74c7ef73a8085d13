"""Read a whole topic from the beginning to its current end (tests' assertions)."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer

from crm_ingest.topics import behind, partitions_of

MiB = 1024 * 1024


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` now, in partition then offset order (records up to
    the topics' 8 MiB limit)."""
    tps = await partitions_of(bootstrap, topic)
    if not tps:
        return []
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        max_partition_fetch_bytes=10 * MiB,
        fetch_max_bytes=20 * MiB,
    )
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        while await behind(consumer, tps, ends):
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                out.extend(r for r in records if r.offset < ends[tp])
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()
