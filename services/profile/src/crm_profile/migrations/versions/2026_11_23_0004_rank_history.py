"""profile.rank_history: when each profile's RFM rank changed.

Revision ID: profile_0004
Revises: profile_0003
Create Date: 2026-11-23

Existing ranked profiles get one row with their current rank from
``traits_computed_at`` (the last time it was computed): history starts there,
a date before it reads as "no rank then".
"""

from alembic import op

from crm_profile.tables import metadata, rank_history

revision = "profile_0004"
down_revision = "profile_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=[rank_history])
    op.execute(
        "INSERT INTO profile.rank_history (tenant_id, profile_id, rank, valid_from) "
        "SELECT tenant_id, profile_id, traits->>'rfm_rank', traits_computed_at "
        "FROM profile.profiles "
        "WHERE merged_into IS NULL AND traits->>'rfm_rank' IS NOT NULL "
        "ON CONFLICT DO NOTHING"
    )


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[rank_history])
