"""Topic -> handler routing of the profile service, nothing else."""

from __future__ import annotations

from crm_common.kafka import ConsumerRunner
from crm_common.service import Runtime
from crm_common.tenancy import tenant_config_handler
from crm_profile.config import EVENTS_TOPIC, SCHEMA, TENANTS_TOPIC, Settings
from crm_profile.handlers.process import EventsHandler
from crm_profile.tables import tenants

apply_tenants = tenant_config_handler(tenants)


def build_consumers(settings: Settings, runtime: Runtime) -> list[ConsumerRunner]:
    common = {"kafka": settings.kafka, "db": runtime.db, "schema": SCHEMA}
    return [
        ConsumerRunner(
            group_id=settings.tenants_group_id(),
            topics=[settings.kafka.topic(TENANTS_TOPIC)],
            handler=apply_tenants,
            dlq_producer=runtime.producer,
            **common,  # type: ignore[arg-type]
        ),
        ConsumerRunner(
            group_id=settings.group_id(),
            topics=[settings.kafka.topic(EVENTS_TOPIC)],
            handler=EventsHandler(),
            dlq_producer=runtime.producer,
            max_batch=settings.service.max_batch,
            **common,  # type: ignore[arg-type]
        ),
    ]
