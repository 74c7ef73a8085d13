"""Topic -> handler routing, nothing else."""

from __future__ import annotations

from crm_common.kafka import ConsumerRunner
from crm_common.service import Runtime
from crm_messaging.clock import Clock
from crm_messaging.config import (
    EVENTS_TOPIC,
    PROFILES_TOPIC,
    SCHEMA,
    SEGMENTS_TOPIC,
    TENANTS_TOPIC,
)
from crm_messaging.handlers.attribution import attribute_orders, record_engagements
from crm_messaging.handlers.journeys_triggers import activity_handler, segments_handler
from crm_messaging.handlers.readmodel import apply_orders, apply_tenants, profiles_handler


def consumers(runtime: Runtime, clock: Clock) -> list[ConsumerRunner]:
    """Read models (tenants, recipients, order lines) with the erasures applied in order
    with them, and engagement and attribution facts."""
    kafka = runtime.settings.kafka
    routes = (
        ("messaging-tenants", TENANTS_TOPIC, apply_tenants),
        ("messaging-profiles", PROFILES_TOPIC, profiles_handler(clock)),
        ("messaging-orders", EVENTS_TOPIC, apply_orders),
        ("messaging-engagements", EVENTS_TOPIC, record_engagements),
        ("messaging-attribution", PROFILES_TOPIC, attribute_orders),
    )
    return [
        ConsumerRunner(
            group_id=f"{kafka.topic_prefix}{group}",
            topics=[kafka.topic(topic)],
            kafka=kafka,
            db=runtime.db,
            schema=SCHEMA,
            handler=handler,
            dlq_producer=runtime.producer,
        )
        for group, topic, handler in routes
    ]


def journey_consumers(runtime: Runtime, clock: Clock) -> list[ConsumerRunner]:
    """profile.activity (event triggers, orders, opens/clicks) and segment memberships."""
    kafka = runtime.settings.kafka
    routes = (
        ("messaging-journey-activity", PROFILES_TOPIC, activity_handler(clock)),
        ("messaging-journey-segments", SEGMENTS_TOPIC, segments_handler(clock)),
    )
    return [
        ConsumerRunner(
            group_id=f"{kafka.topic_prefix}{group}",
            topics=[kafka.topic(topic)],
            kafka=kafka,
            db=runtime.db,
            schema=SCHEMA,
            handler=handler,
            dlq_producer=runtime.producer,
        )
        for group, topic, handler in routes
    ]
