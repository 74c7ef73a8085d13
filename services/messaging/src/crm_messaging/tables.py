"""Tables of the messaging schema (only this service reads or writes them)."""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_common.db import make_metadata
from crm_common.plumbing import outbox_table, processed_events_table
from crm_common.tenancy import tenants_table
from crm_messaging.config import SCHEMA

metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
tenants = tenants_table(metadata)


def _now_column(name: str) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())


tenant_settings = Table(
    "tenant_settings",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("settings", JSONB, nullable=False),
    Column("tracking_secret", Text, nullable=False),
    Column("previous_tracking_secret", Text, nullable=True),
    _now_column("updated_at"),
)

# The read model of recipients, from profile.changed on crm.profiles.v1.
recipients = Table(
    "recipients",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("traits", JSONB, nullable=False),
    Column("email", Text, nullable=True),  # normalised, to match order.placed identities
    Column("phone", Text, nullable=True),
    _now_column("updated_at"),
    PrimaryKeyConstraint("tenant_id", "profile_id"),
    Index("ix_recipients_email", "tenant_id", "email"),
)

profile_aliases = Table(
    "profile_aliases",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("merged_id", Text, nullable=False),
    Column("survivor_id", Text, nullable=False),
    _now_column("merged_at"),
    PrimaryKeyConstraint("tenant_id", "merged_id"),
)

templates = Table(
    "templates",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("template_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("name", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("parts", JSONB, nullable=False),
    Column("deleted", Boolean, nullable=False, server_default=text("false")),
    _now_column("created_at"),
    PrimaryKeyConstraint("tenant_id", "template_id", "version"),
)

messages = Table(
    "messages",
    metadata,
    Column("message_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("source_kind", Text, nullable=False),
    Column("source_id", Text, nullable=False),
    Column("step_id", Text, nullable=True),
    Column("template_id", Text, nullable=True),
    Column("template_version", Integer, nullable=True),
    Column("inline_parts", JSONB, nullable=True),
    Column("context", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("rendered", JSONB, nullable=True),
    Column("links", JSONB, nullable=True),
    Column("missing_variables", ARRAY(Text), nullable=True),
    Column("state", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("detail", Text, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("attempt_token", Text, nullable=True),
    Column("lease_until", DateTime(timezone=True), nullable=True),
    Column("smtp_stage", Text, nullable=True),
    Column("provider", Text, nullable=True),
    Column("provider_message_id", Text, nullable=True),
    Column("queued_at", DateTime(timezone=True), nullable=False),
    Column("sending_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    Column("unsubscribed_at", DateTime(timezone=True), nullable=True),
    Column("bounce", Text, nullable=True),  # "hard:5.1.1" / "soft:4.2.2" (state stays sent)
    Column("bounced_at", DateTime(timezone=True), nullable=True),
    Column("complained_at", DateTime(timezone=True), nullable=True),
    _now_column("created_at"),
    _now_column("updated_at"),
    Index(
        "ix_messages_due",
        "next_attempt_at",
        postgresql_where=text("state IN ('queued', 'held')"),
    ),
    Index("ix_messages_leased", "lease_until", postgresql_where=text("state = 'sending'")),
    Index("ix_messages_log", "tenant_id", "profile_id", "created_at"),
    Index("ix_messages_tenant_log", "tenant_id", "created_at", "message_id"),
    Index("ix_messages_history", "tenant_id", "profile_id", "sent_at"),
    Index("ix_messages_provider_id", "provider_message_id"),
)

dm_batches = Table(
    "dm_batches",
    metadata,
    Column("batch_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("local_date", Date, nullable=False),
    Column("state", Text, nullable=False),  # open | exported
    _now_column("created_at"),
    Column("exported_at", DateTime(timezone=True), nullable=True),
    Index(
        "uq_dm_batches_open",
        "tenant_id",
        "local_date",
        unique=True,
        postgresql_where=text("state = 'open'"),
    ),
)

dm_batch_items = Table(
    "dm_batch_items",
    metadata,
    Column("batch_id", Text, nullable=False),
    Column("message_id", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("row", JSONB, nullable=False),
    Column("state", Text, nullable=False),  # pending | sent
    _now_column("created_at"),
    PrimaryKeyConstraint("batch_id", "message_id"),
)

call_list = Table(
    "call_list",
    metadata,
    Column("entry_id", Text, primary_key=True),  # = message_id
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("name", Text, nullable=True),
    Column("phone", Text, nullable=True),
    Column("reason", Text, nullable=False),
    Column("script", JSONB, nullable=False),
    Column("state", Text, nullable=False),  # open | done
    Column("last_outcome", Text, nullable=True),
    _now_column("created_at"),
    Index("ix_call_list_tenant", "tenant_id", "state", "created_at"),
)

call_outcomes = Table(
    "call_outcomes",
    metadata,
    Column("entry_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("note", Text, nullable=True),
    _now_column("recorded_at"),
    PrimaryKeyConstraint("entry_id", "seq"),
)

# order.placed lines from crm.events.v1, for "bought together" recommendations.
orders = Table(
    "orders",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("profile_id", Text, nullable=True),
    Column("email", Text, nullable=True),
    Column("phone", Text, nullable=True),
    Column("product_ids", ARRAY(Text), nullable=False),
    Column("titles", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "order_id"),
    Index("ix_orders_email", "tenant_id", "email"),
    Index("ix_orders_profile", "tenant_id", "profile_id"),
)

NEW_TABLES = (
    tenants,
    tenant_settings,
    recipients,
    profile_aliases,
    templates,
    messages,
    dm_batches,
    dm_batch_items,
    call_list,
    call_outcomes,
    orders,
)

# Journey tables live in their own module on this metadata (alembic's env sees them).
from crm_messaging import tables_journeys as _journey_tables  # noqa: E402,F401
