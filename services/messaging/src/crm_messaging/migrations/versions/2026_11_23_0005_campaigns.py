"""Campaigns, their frozen audiences, engagement facts, attributions.

Revision ID: messaging_0005
Revises: messaging_0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "messaging_0005"
down_revision = "messaging_0004"
branch_labels = None
depends_on = None

SCHEMA = "messaging"


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("template_id", sa.Text(), nullable=True),
        sa.Column("inline_parts", postgresql.JSONB(), nullable=True),
        sa.Column(
            "context", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("throttle_per_minute", sa.Integer(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("send_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("audience_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_batch_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("audience", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("enqueued", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaigns")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_campaigns_due"),
        "campaigns",
        ["status", "send_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("status IN ('scheduled', 'sending')"),
    )
    op.create_index(
        op.f("ix_campaigns_tenant"), "campaigns", ["tenant_id", "created_at"], schema=SCHEMA
    )
    op.create_table(
        "campaign_recipients",
        sa.Column("campaign_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("campaign_id", "profile_id", name=op.f("pk_campaign_recipients")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_campaign_recipients_pending"),
        "campaign_recipients",
        ["campaign_id", "profile_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("message_id IS NULL"),
    )
    op.create_table(
        "message_engagements",
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_message_engagements")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_message_engagements_message"),
        "message_engagements",
        ["message_id", "kind"],
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_message_engagements_profile"),
        "message_engagements",
        ["tenant_id", "profile_id", "at"],
        schema=SCHEMA,
    )
    op.create_table(
        "attributions",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("source_kind", sa.Text(), nullable=True),
        sa.Column("source_id", sa.Text(), nullable=True),
        sa.Column("step_id", sa.Text(), nullable=True),
        sa.Column("touch", sa.Text(), nullable=True),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revenue", sa.Numeric(18, 4), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", "order_id", name=op.f("pk_attributions")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_attributions_source"),
        "attributions",
        ["tenant_id", "source_kind", "source_id"],
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_attributions_source"), table_name="attributions", schema=SCHEMA)
    op.drop_table("attributions", schema=SCHEMA)
    op.drop_index(
        op.f("ix_message_engagements_message"), table_name="message_engagements", schema=SCHEMA
    )
    op.drop_index(
        op.f("ix_message_engagements_profile"), table_name="message_engagements", schema=SCHEMA
    )
    op.drop_table("message_engagements", schema=SCHEMA)
    op.drop_index(
        op.f("ix_campaign_recipients_pending"), table_name="campaign_recipients", schema=SCHEMA
    )
    op.drop_table("campaign_recipients", schema=SCHEMA)
    op.drop_index(op.f("ix_campaigns_due"), table_name="campaigns", schema=SCHEMA)
    op.drop_index(op.f("ix_campaigns_tenant"), table_name="campaigns", schema=SCHEMA)
    op.drop_table("campaigns", schema=SCHEMA)
