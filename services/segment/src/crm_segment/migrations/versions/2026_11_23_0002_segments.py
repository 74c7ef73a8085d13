"""Read model, segments, catalog versions, merged-profile tombstones, tenants.

Revision ID: segment_0002
Revises: segment_0001
Create Date: 2026-11-23
"""

from alembic import op

from crm_segment.tables import NEW_TABLES, metadata

revision = "segment_0002"
down_revision = "segment_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(NEW_TABLES))


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(NEW_TABLES))
