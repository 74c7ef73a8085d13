"""Read a whole topic from the beginning to its current end (tests' assertions)."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

MiB = 1024 * 1024


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    """Asked of the cluster, not of a consumer's metadata cache (which may lag)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code"):
        return []
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic`` now, in partition then offset order."""
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
        while await _behind(consumer, ends):
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                out.extend(r for r in records if r.offset < ends[tp])
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False
