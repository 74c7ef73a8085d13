"""profile.rank_history: when each profile's RFM rank changed.

Revision ID: profile_0004
Revises: profile_0003
Create Date: 2026-11-23

Existing ranked profiles get one row with their current rank from
``traits_computed_at`` (the last time it was computed): history starts there,
a date before it reads as "no rank then".
"""

import sqlalchemy as sa
from alembic import op

revision = "profile_0004"
down_revision = "profile_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rank_history",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("rank", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "profile_id", "valid_from", name=op.f("pk_rank_history")
        ),
        schema="profile",
    )
    op.execute(
        "INSERT INTO profile.rank_history (tenant_id, profile_id, rank, valid_from) "
        "SELECT tenant_id, profile_id, traits->>'rfm_rank', traits_computed_at "
        "FROM profile.profiles "
        "WHERE merged_into IS NULL AND traits->>'rfm_rank' IS NOT NULL "
        "ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    op.drop_table("rank_history", schema="profile")
