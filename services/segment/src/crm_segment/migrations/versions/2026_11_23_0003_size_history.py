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

from alembic import op

from crm_segment.repository.history import BACKFILL, DEFAULT_TZ
from crm_segment.tables import metadata, segment_size_history

revision = "segment_0003"
down_revision = "segment_0002"
branch_labels = None
depends_on = None

BACKFILL_DAYS = 31


def upgrade() -> None:
    bind = op.get_bind()
    metadata.create_all(bind, tables=[segment_size_history])
    params = {
        "now": datetime.now(UTC),
        "days": BACKFILL_DAYS,
        "tenant": None,
        "default_tz": DEFAULT_TZ,
    }
    bind.execute(BACKFILL, params)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=[segment_size_history])
