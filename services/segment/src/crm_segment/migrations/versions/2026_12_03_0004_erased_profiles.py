"""segment.erased_profiles: erasures applied, so later-arriving events stay erased.

Revision ID: segment_0004
Revises: segment_0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "segment_0004"
down_revision = "segment_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_profiles",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("profile_id", sa.Text(), nullable=False),
        sa.Column("erased_through", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "profile_id", name=op.f("pk_erased_profiles")),
        schema="segment",
    )


def downgrade() -> None:
    op.drop_table("erased_profiles", schema="segment")
