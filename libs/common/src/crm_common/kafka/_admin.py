from __future__ import annotations

from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from crm_common.settings import TOPICS, KafkaSettings


async def ensure_topics(settings: KafkaSettings, names: Iterable[str] = TOPICS) -> list[str]:
    """Create the (prefixed) topics that do not exist yet; return the physical names."""
    physical = [settings.topic(n) for n in names]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, settings.partitions, settings.replication_factor)
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
