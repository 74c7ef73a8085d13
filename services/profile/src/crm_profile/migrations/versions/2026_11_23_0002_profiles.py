"""Profiles, identifiers, facts, timeline, RFM settings and the local tenants table.

Revision ID: profile_0002
Revises: profile_0001
Create Date: 2026-11-23

``profiles.traits_computed_at`` and its index come with profile_0003.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "profile_0002"
down_revision = "profile_0001"
branch_labels = None
depends_on = None

SCHEMA = "profile"


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str, nullable: bool = False) -> sa.Column[object]:
    if nullable:
        return sa.Column(name, postgresql.JSONB(), nullable=True)
    return sa.Column(
        name, postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
    )


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
        "profiles",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        _at("created_at"),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("merged_into", sa.Text(), nullable=True),
        _at("deleted_at", nullable=True),
        _at("redacted_at", nullable=True),
        _json("attributes"),
        _json("permissions"),
        _json("traits"),
        sa.Column("rfm_rank_previous", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "profile_id", name=op.f("pk_profiles")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_profiles_tenant_id_merged_into"),
        "profiles",
        ["tenant_id", "merged_into"],
        schema=SCHEMA,
        postgresql_where=sa.text("merged_into IS NOT NULL"),
    )
    op.create_table(
        "identifiers",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        _at("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "kind", "value", name=op.f("pk_identifiers")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_identifiers_tenant_id_profile_id"),
        "identifiers",
        ["tenant_id", "profile_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "orders",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=True),
        _json("fact", nullable=True),
        _at("placed_at", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "order_id", name=op.f("pk_orders")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_orders_tenant_id_profile_id"), "orders", ["tenant_id", "profile_id"], schema=SCHEMA
    )
    op.create_table(
        "subscriptions",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("contract_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        _json("fact", nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "contract_id", name=op.f("pk_subscriptions")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_subscriptions_tenant_id_profile_id"),
        "subscriptions",
        ["tenant_id", "profile_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "engagement",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        _json("fact"),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_engagement")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_engagement_tenant_id_profile_id"),
        "engagement",
        ["tenant_id", "profile_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "timeline",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=True),
        sa.Column("type", sa.Text(), nullable=False),
        _at("occurred_at"),
        sa.Column("source", sa.Text(), nullable=False),
        _json("summary"),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_timeline")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_timeline_tenant_id_profile_id_occurred_at_event_id"),
        "timeline",
        ["tenant_id", "profile_id", "occurred_at", "event_id"],
        schema=SCHEMA,
    )
    op.create_table(
        "rfm_settings",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        _json("thresholds"),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_rfm_settings")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("rfm_settings", schema=SCHEMA)
    op.drop_index(
        op.f("ix_timeline_tenant_id_profile_id_occurred_at_event_id"),
        table_name="timeline",
        schema=SCHEMA,
    )
    op.drop_table("timeline", schema=SCHEMA)
    op.drop_index(
        op.f("ix_engagement_tenant_id_profile_id"), table_name="engagement", schema=SCHEMA
    )
    op.drop_table("engagement", schema=SCHEMA)
    op.drop_index(
        op.f("ix_subscriptions_tenant_id_profile_id"), table_name="subscriptions", schema=SCHEMA
    )
    op.drop_table("subscriptions", schema=SCHEMA)
    op.drop_index(op.f("ix_orders_tenant_id_profile_id"), table_name="orders", schema=SCHEMA)
    op.drop_table("orders", schema=SCHEMA)
    op.drop_index(
        op.f("ix_identifiers_tenant_id_profile_id"), table_name="identifiers", schema=SCHEMA
    )
    op.drop_table("identifiers", schema=SCHEMA)
    op.drop_index(op.f("ix_profiles_tenant_id_merged_into"), table_name="profiles", schema=SCHEMA)
    op.drop_table("profiles", schema=SCHEMA)
    op.drop_table("tenants", schema=SCHEMA)
