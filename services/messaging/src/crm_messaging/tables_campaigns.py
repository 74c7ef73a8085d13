"""Tables of campaigns, engagement facts and attributions.

Segment membership is the journeys' ``journey_memberships`` (one copy of
crm.segments.v1 per service). The tables live on the messaging ``metadata``
(from :mod:`crm_messaging.tables`); migrations/env.py imports this module.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_messaging.tables import metadata


def _now_column(name: str) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())


campaigns = Table(
    "campaigns",
    metadata,
    Column("campaign_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("segment_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("template_id", Text, nullable=True),
    Column("inline_parts", JSONB, nullable=True),
    Column("context", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("throttle_per_minute", Integer, nullable=True),  # None: as fast as dispatch goes
    Column("status", Text, nullable=False),  # draft|scheduled|sending|paused|completed|cancelled
    Column("send_at", DateTime(timezone=True), nullable=True),
    Column("audience_at", DateTime(timezone=True), nullable=True),  # audience snapshot taken
    Column("next_batch_at", DateTime(timezone=True), nullable=True),  # throttle: next slot
    Column("audience", Integer, nullable=False, server_default=text("0")),
    Column("enqueued", Integer, nullable=False, server_default=text("0")),
    Column("error", Text, nullable=True),  # why the worker paused it (template gone ...)
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    _now_column("created_at"),
    _now_column("updated_at"),
    Index("ix_campaigns_tenant", "tenant_id", "created_at"),
    Index(
        "ix_campaigns_due",
        "status",
        "send_at",
        postgresql_where=text("status IN ('scheduled', 'sending')"),
    ),
)

# The audience, frozen when sending starts; the primary key is the exactly-once key.
campaign_recipients = Table(
    "campaign_recipients",
    metadata,
    Column("campaign_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("message_id", Text, nullable=True),  # set when enqueued
    Column("enqueued_at", DateTime(timezone=True), nullable=True),
    PrimaryKeyConstraint("campaign_id", "profile_id"),
    Index(
        "ix_campaign_recipients_pending",
        "campaign_id",
        "profile_id",
        postgresql_where=text("message_id IS NULL"),
    ),
)

# message.opened / message.clicked, read back from crm.events.v1 and from the
# profile.activity copies on crm.profiles.v1 (keyed by the original event id).
engagements = Table(
    "message_engagements",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # opened | clicked
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_message_engagements_profile", "tenant_id", "profile_id", "at"),
    Index("ix_message_engagements_message", "message_id", "kind"),
)

# One row per order evaluated: the last qualifying message before it, or none
# (message columns NULL), so a redelivered order is never evaluated twice.
attributions = Table(
    "attributions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("message_id", Text, nullable=True),
    Column("channel", Text, nullable=True),
    Column("source_kind", Text, nullable=True),
    Column("source_id", Text, nullable=True),
    Column("step_id", Text, nullable=True),
    Column("touch", Text, nullable=True),  # opened | clicked | sent
    Column("touched_at", DateTime(timezone=True), nullable=True),
    Column("ordered_at", DateTime(timezone=True), nullable=False),
    Column("revenue", Numeric(18, 4), nullable=False),
    Column("currency", Text, nullable=False),
    Column("cancelled_at", DateTime(timezone=True), nullable=True),
    _now_column("created_at"),
    PrimaryKeyConstraint("tenant_id", "order_id"),
    Index("ix_attributions_source", "tenant_id", "source_kind", "source_id"),
)

CAMPAIGN_TABLES = (campaigns, campaign_recipients, engagements, attributions)
