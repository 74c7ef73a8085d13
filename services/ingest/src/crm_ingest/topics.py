"""Reading whole topics from the beginning without a consumer group (DLQ listing, tools)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient


async def partitions_of(bootstrap_servers: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions, asked of the cluster (no metadata cache in the way)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described.get("error_code"):
        return []
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def assign_from_start(
    consumer: AIOKafkaConsumer, bootstrap_servers: str, topic: str
) -> list[TopicPartition]:
    """Assign every partition of ``topic`` to a group-less consumer, at the beginning."""
    partitions = await partitions_of(bootstrap_servers, topic)
    if partitions:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
    return partitions


async def behind(
    consumer: AIOKafkaConsumer, partitions: list[TopicPartition], ends: dict[TopicPartition, int]
) -> bool:
    """True while some partition's position is short of its end offset in ``ends``."""
    for tp in partitions:
        if await consumer.position(tp) < ends[tp]:
            return True
    return False
