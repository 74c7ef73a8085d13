"""segment.segment_size_history: the size of each segment per local day.

Revision ID: segment_0003
Revises: segment_0002
Create Date: 2026-11-23

Existing active segments get their exact size at the end of each of the last
31 days (or since their creation) from the membership history, so the
console's 30-day trend is full from the first deploy. Up to yesterday: the
sweeper writes today's row within one sweep.
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from crm_segment.repository.history import BACKFILL, DEFAULT_TZ

revision = "segment_0003"
down_revision = "segment_0002"
branch_labels = None
depends_on = None

BACKFILL_DAYS = 31


def upgrade() -> None:
    op.create_table(
        "segment_size_history",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("segment_id", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "segment_id", "day", name=op.f("pk_segment_size_history")
        ),
        schema="segment",
    )
    bind = op.get_bind()
    params = {
        "now": datetime.now(UTC),
        "days": BACKFILL_DAYS,
        "tenant": None,
        "default_tz": DEFAULT_TZ,
    }
    bind.execute(BACKFILL, params)


def downgrade() -> None:
    op.drop_table("segment_size_history", schema="segment")
