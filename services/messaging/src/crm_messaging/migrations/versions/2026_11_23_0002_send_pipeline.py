"""Send pipeline: tenants, settings, recipients, templates, messages, DM batches,
call list, orders.

Revision ID: messaging_0002
Revises: messaging_0001
Create Date: 2026-11-23

``messages.bounce``, ``bounced_at`` and ``complained_at`` come with messaging_0003.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "messaging_0002"
down_revision = "messaging_0001"
branch_labels = None
depends_on = None

SCHEMA = "messaging"


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("shop_domains", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("api_key_hashes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenants")),
        schema=SCHEMA,
    )
    op.create_table(
        "tenant_settings",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("settings", postgresql.JSONB(), nullable=False),
        sa.Column("tracking_secret", sa.Text(), nullable=False),
        sa.Column("previous_tracking_secret", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_settings")),
        schema=SCHEMA,
    )
    op.create_table(
        "recipients",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("traits", postgresql.JSONB(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", "profile_id", name=op.f("pk_recipients")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_recipients_email"), "recipients", ["tenant_id", "email"], schema=SCHEMA
    )
    op.create_table(
        "profile_aliases",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("merged_id", sa.Text(), nullable=False),
        sa.Column("survivor_id", sa.Text(), nullable=False),
        sa.Column(
            "merged_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", "merged_id", name=op.f("pk_profile_aliases")),
        schema=SCHEMA,
    )
    op.create_table(
        "templates",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("template_id", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("parts", postgresql.JSONB(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", "template_id", "version", name=op.f("pk_templates")),
        schema=SCHEMA,
    )
    op.create_table(
        "messages",
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("source_kind", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False),
        sa.Column("step_id", sa.Text(), nullable=True),
        sa.Column("template_id", sa.Text(), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("inline_parts", postgresql.JSONB(), nullable=True),
        sa.Column(
            "context", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("rendered", postgresql.JSONB(), nullable=True),
        sa.Column("links", postgresql.JSONB(), nullable=True),
        sa.Column("missing_variables", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempt_token", sa.Text(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("smtp_stage", sa.Text(), nullable=True),
        sa.Column("provider", sa.Text(), nullable=True),
        sa.Column("provider_message_id", sa.Text(), nullable=True),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("message_id", name=op.f("pk_messages")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_messages_due"),
        "messages",
        ["next_attempt_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("state IN ('queued', 'held')"),
    )
    op.create_index(
        op.f("ix_messages_history"),
        "messages",
        ["tenant_id", "profile_id", "sent_at"],
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_messages_leased"),
        "messages",
        ["lease_until"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'sending'"),
    )
    op.create_index(
        op.f("ix_messages_log"),
        "messages",
        ["tenant_id", "profile_id", "created_at"],
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_messages_provider_id"), "messages", ["provider_message_id"], schema=SCHEMA
    )
    op.create_index(
        op.f("ix_messages_tenant_log"),
        "messages",
        ["tenant_id", "created_at", "message_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "dm_batches",
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("exported_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_dm_batches")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("uq_dm_batches_open"),
        "dm_batches",
        ["tenant_id", "local_date"],
        schema=SCHEMA,
        unique=True,
        postgresql_where=sa.text("state = 'open'"),
    )
    op.create_table(
        "dm_batch_items",
        sa.Column("batch_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("row", postgresql.JSONB(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("batch_id", "message_id", name=op.f("pk_dm_batch_items")),
        schema=SCHEMA,
    )
    op.create_table(
        "call_list",
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("script", postgresql.JSONB(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("last_outcome", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_call_list")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_call_list_tenant"),
        "call_list",
        ["tenant_id", "state", "created_at"],
        schema=SCHEMA,
    )
    op.create_table(
        "call_outcomes",
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("entry_id", "seq", name=op.f("pk_call_outcomes")),
        schema=SCHEMA,
    )
    op.create_table(
        "orders",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("product_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column(
            "titles", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "order_id", name=op.f("pk_orders")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_orders_email"), "orders", ["tenant_id", "email"], schema=SCHEMA)
    op.create_index(op.f("ix_orders_profile"), "orders", ["tenant_id", "profile_id"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_email"), table_name="orders", schema=SCHEMA)
    op.drop_index(op.f("ix_orders_profile"), table_name="orders", schema=SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
    op.drop_table("call_outcomes", schema=SCHEMA)
    op.drop_index(op.f("ix_call_list_tenant"), table_name="call_list", schema=SCHEMA)
    op.drop_table("call_list", schema=SCHEMA)
    op.drop_table("dm_batch_items", schema=SCHEMA)
    op.drop_index(op.f("uq_dm_batches_open"), table_name="dm_batches", schema=SCHEMA)
    op.drop_table("dm_batches", schema=SCHEMA)
    op.drop_index(op.f("ix_messages_due"), table_name="messages", schema=SCHEMA)
    op.drop_index(op.f("ix_messages_history"), table_name="messages", schema=SCHEMA)
    op.drop_index(op.f("ix_messages_leased"), table_name="messages", schema=SCHEMA)
    op.drop_index(op.f("ix_messages_log"), table_name="messages", schema=SCHEMA)
    op.drop_index(op.f("ix_messages_provider_id"), table_name="messages", schema=SCHEMA)
    op.drop_index(op.f("ix_messages_tenant_log"), table_name="messages", schema=SCHEMA)
    op.drop_table("messages", schema=SCHEMA)
    op.drop_table("templates", schema=SCHEMA)
    op.drop_table("profile_aliases", schema=SCHEMA)
    op.drop_index(op.f("ix_recipients_email"), table_name="recipients", schema=SCHEMA)
    op.drop_table("recipients", schema=SCHEMA)
    op.drop_table("tenant_settings", schema=SCHEMA)
    op.drop_table("tenants", schema=SCHEMA)
