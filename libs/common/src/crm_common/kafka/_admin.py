"""Topics: created with the partitions, compaction and record size the services need.

``max.message.bytes`` is part of every topic's configuration (not left to the
broker default of 1 MiB): producers refuse records above
``KafkaSettings.max_message_bytes`` on the client, so the topic must take at
least that much or a record the client let through would be rejected by the
broker, leaving the idempotent producer's sequence with a gap. Topics created
before this setting (or by hand) are raised to it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError

from crm_common.settings import COMPACTED_TOPICS, TOPICS, KafkaSettings

log = logging.getLogger(__name__)
MAX_BYTES = "max.message.bytes"


def topic_configs(settings: KafkaSettings, name: str) -> dict[str, str]:
    """The configuration a logical topic is created (and kept) with."""
    configs = {MAX_BYTES: str(settings.topic_max_bytes)}
    if name in COMPACTED_TOPICS:
        configs["cleanup.policy"] = "compact"
    return configs


async def ensure_topics(settings: KafkaSettings, names: Iterable[str] = TOPICS) -> list[str]:
    """Create the (prefixed) topics that do not exist yet, raise record size limits of
    those that do; return the physical names."""
    configs = {settings.topic(n): topic_configs(settings, n) for n in names}
    physical = list(configs)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name, settings.partitions, settings.replication_factor, topic_configs=conf)
            for name, conf in configs.items()
            if name not in existing
        ]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass  # another replica created it meanwhile
        present = [name for name in physical if name in existing]
        await _raise_limits(admin, settings, {n: configs[n] for n in present})
    finally:
        await admin.close()
    return physical


async def _raise_limits(
    admin: AIOKafkaAdminClient, settings: KafkaSettings, configs: dict[str, dict[str, str]]
) -> None:
    if not configs:
        return
    described = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in configs]
    )
    too_small = []
    for response in described:
        for _, _, _, name, entries in response.resources:
            current = {entry[0]: entry[1] for entry in entries}
            if int(current.get(MAX_BYTES) or 0) < settings.topic_max_bytes:
                too_small.append(name)
    if too_small:
        log.warning("raising max.message.bytes of existing topics", extra={"topics": too_small})
        # AlterConfigs replaces a topic's dynamic configuration: send all of ours.
        answers = await admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, configs[n]) for n in too_small]
        )
        failed = [r for a in answers for r in a.resources if r[0] != 0]
        if failed:
            raise RuntimeError(f"could not raise {MAX_BYTES} of topics: {failed}")
