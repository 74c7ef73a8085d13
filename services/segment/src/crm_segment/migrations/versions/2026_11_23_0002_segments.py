"""Read model, segments, catalog versions, merged-profile tombstones, tenants.

Revision ID: segment_0002
Revises: segment_0001
Create Date: 2026-11-23

The read model (profiles, events, memberships) is :mod:`crm_segment.readmodel`.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "segment_0002"
down_revision = "segment_0001"
branch_labels = None
depends_on = None

SCHEMA = "segment"


def _at(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column(
            "traits", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
        ),
        sa.Column("version", sa.BigInteger(), nullable=False),
        _at("updated_at"),
        _at("next_change_at", nullable=True),
        sa.Column("merge_pending", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.PrimaryKeyConstraint("tenant_id", "profile_id", name=op.f("pk_profiles")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_profiles_tenant_id_next_change_at"),
        "profiles",
        ["tenant_id", "next_change_at"],
        schema=SCHEMA,
        postgresql_where=sa.text("next_change_at IS NOT NULL"),
    )
    op.create_table(
        "events",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        _at("occurred_at"),
        sa.Column(
            "properties",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'{}'::jsonb"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_events")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_events_tenant_id_profile_id_type_occurred_at"),
        "events",
        ["tenant_id", "profile_id", "type", "occurred_at"],
        schema=SCHEMA,
    )
    op.create_table(
        "memberships",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        _at("entered_at"),
        _at("exited_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("uq_memberships_open"),
        "memberships",
        ["tenant_id", "segment_id", "profile_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=sa.text("exited_at IS NULL"),
    )
    op.create_index(
        op.f("ix_memberships_tenant_id_profile_id"),
        "memberships",
        ["tenant_id", "profile_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("exited_at IS NULL"),
    )
    op.create_index(
        op.f("ix_memberships_tenant_id_segment_id_entered_at"),
        "memberships",
        ["tenant_id", "segment_id", "entered_at"],
        schema=SCHEMA,
    )
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
        "segments",
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column("definition_version", sa.Integer(), nullable=False, server_default=sa.text("1")),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("template_key", sa.Text(), nullable=True),
        _at("snapshot_at", nullable=True),
        _at("filled_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("segment_id", name=op.f("pk_segments")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_segments_tenant_id_status"), "segments", ["tenant_id", "status"], schema=SCHEMA
    )
    op.create_table(
        "catalog_versions",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_catalog_versions")),
        schema=SCHEMA,
    )
    op.create_table(
        "merged_profiles",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("survivor_id", sa.Text(), nullable=False),
        _at("merged_at"),
        sa.PrimaryKeyConstraint("tenant_id", "profile_id", name=op.f("pk_merged_profiles")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("merged_profiles", schema=SCHEMA)
    op.drop_table("catalog_versions", schema=SCHEMA)
    op.drop_index(op.f("ix_segments_tenant_id_status"), table_name="segments", schema=SCHEMA)
    op.drop_table("segments", schema=SCHEMA)
    op.drop_table("tenants", schema=SCHEMA)
    op.drop_index(
        op.f("ix_memberships_tenant_id_segment_id_entered_at"),
        table_name="memberships",
        schema=SCHEMA,
    )
    op.drop_index(
        op.f("ix_memberships_tenant_id_profile_id"), table_name="memberships", schema=SCHEMA
    )
    op.drop_index(op.f("uq_memberships_open"), table_name="memberships", schema=SCHEMA)
    op.drop_table("memberships", schema=SCHEMA)
    op.drop_index(
        op.f("ix_events_tenant_id_profile_id_type_occurred_at"),
        table_name="events",
        schema=SCHEMA,
    )
    op.drop_table("events", schema=SCHEMA)
    op.drop_index(
        op.f("ix_profiles_tenant_id_next_change_at"), table_name="profiles", schema=SCHEMA
    )
    op.drop_table("profiles", schema=SCHEMA)
