"""Tenants, webhook secrets, API keys, accepted events, rate windows, imports, DLQ replays.

Revision ID: ingest_0002
Revises: ingest_0001
Create Date: 2026-11-23
"""

from alembic import op

from crm_ingest.tables import INGEST_TABLES, metadata

revision = "ingest_0002"
down_revision = "ingest_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=INGEST_TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(reversed(INGEST_TABLES)))
