from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from crm_common.settings import COMPACTED_TOPICS, TOPICS, KafkaSettings


async def ensure_topics(settings: KafkaSettings, names: Iterable[str] = TOPICS) -> list[str]:
    """Create the (prefixed) topics that do not exist yet; return the physical names."""
    names = list(names)
    configs = {
        settings.topic(n): {"cleanup.policy": "compact"} if n in COMPACTED_TOPICS else None
        for n in names
    }
    physical = list(configs)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name, settings.partitions, settings.replication_factor, topic_configs=configs[name]
            )
            for name in physical
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica created it meanwhile
    finally:
        await admin.close()
    return physical
