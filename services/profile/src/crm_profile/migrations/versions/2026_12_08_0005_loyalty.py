"""profile.loyalty_settings and profile.points_entries: points and member ranks.

Revision ID: profile_0005
Revises: profile_0004
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "profile_0005"
down_revision = "profile_0004"
branch_labels = None
depends_on = None


def _json(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name, postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")
    )


def _now(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now())


def upgrade() -> None:
    op.create_table(
        "loyalty_settings",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        _json("rules"),
        _now("updated_at"),
        sa.PrimaryKeyConstraint("tenant_id", "effective_from", name=op.f("pk_loyalty_settings")),
        schema="profile",
    )
    op.create_table(
        "points_entries",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("entry_key", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        _json("entry"),
        _now("created_at"),
        sa.PrimaryKeyConstraint("tenant_id", "entry_key", name=op.f("pk_points_entries")),
        schema="profile",
    )
    op.create_index(
        op.f("ix_points_entries_tenant_id_profile_id"),
        "points_entries",
        ["tenant_id", "profile_id"],
        schema="profile",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_points_entries_tenant_id_profile_id"), "points_entries", schema="profile"
    )
    op.drop_table("points_entries", schema="profile")
    op.drop_table("loyalty_settings", schema="profile")
