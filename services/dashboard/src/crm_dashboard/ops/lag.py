"""Consumer lag per group and topic, asked of Kafka directly.

Groups are found by what they consume, not by name: every group with committed
offsets on this run's topics (``KafkaSettings.topic``) counts, whether its
members are running or not (a stopped service's lag still grows). Lag of a
partition = end offset (read_committed) - committed offset; a partition of a
consumed topic where the group never committed counts from the beginning
(``auto_offset_reset="earliest"`` in the consumer runner).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from crm_common.settings import TOPICS, KafkaSettings
from crm_dashboard.ops.models import ConsumerLag, PartitionLag

Committed = dict[str, dict[TopicPartition, int]]  # group -> partition -> offset


async def consumer_lag(kafka: KafkaSettings) -> list[ConsumerLag]:
    """Lag of every consumer group of this run's topics, sorted by group and topic."""
    logical = {kafka.topic(name): name for name in TOPICS}
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        committed = await _committed(admin, set(logical))
        topics = sorted({tp.topic for offsets in committed.values() for tp in offsets})
        partitions = await _partitions(admin, topics)
    finally:
        await admin.close()
    if not committed:
        return []
    starts, ends = await _bounds(kafka, [tp for tps in partitions.values() for tp in tps])
    rows = []
    for group in sorted(committed):
        for topic in sorted({tp.topic for tp in committed[group]}):
            parts = [
                _partition_lag(tp, committed[group].get(tp), starts, ends)
                for tp in partitions.get(topic, [])
            ]
            rows.append(
                ConsumerLag(
                    group=group,
                    name=_strip(group, kafka.topic_prefix),
                    topic=logical[topic],
                    lag=sum(p.lag for p in parts),
                    partitions=parts,
                )
            )
    return rows


def _strip(group: str, prefix: str) -> str:
    return group[len(prefix) :] if prefix and group.startswith(prefix) else group


def _partition_lag(
    tp: TopicPartition,
    committed: int | None,
    starts: dict[TopicPartition, int],
    ends: dict[TopicPartition, int],
) -> PartitionLag:
    end = ends.get(tp, 0)
    position = committed if committed is not None else starts.get(tp, 0)
    return PartitionLag(
        partition=tp.partition, committed=committed, end=end, lag=max(0, end - position)
    )


async def _committed(admin: AIOKafkaAdminClient, ours: set[str]) -> Committed:
    groups = sorted(str(g[0]) for g in await admin.list_consumer_groups())
    answers = await asyncio.gather(*(admin.list_consumer_group_offsets(g) for g in groups))
    committed: Committed = {}
    for group, offsets in zip(groups, answers, strict=True):
        mine = {tp: o.offset for tp, o in offsets.items() if tp.topic in ours and o.offset >= 0}
        if mine:
            committed[group] = mine
    return committed


async def _partitions(
    admin: AIOKafkaAdminClient, topics: list[str]
) -> dict[str, list[TopicPartition]]:
    if not topics:
        return {}
    found: dict[str, list[TopicPartition]] = defaultdict(list)
    for described in await admin.describe_topics(topics):
        if described.get("error_code"):
            continue
        name = described["topic"]
        found[name] = sorted(TopicPartition(name, p["partition"]) for p in described["partitions"])
    return found


async def _bounds(
    kafka: KafkaSettings, partitions: Iterable[TopicPartition]
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """(beginning offsets, end offsets) as a read_committed consumer sees them."""
    wanted = list(partitions)
    if not wanted:
        return {}, {}
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await reader.start()
    try:
        return await reader.beginning_offsets(wanted), await reader.end_offsets(wanted)
    finally:
        await reader.stop()
