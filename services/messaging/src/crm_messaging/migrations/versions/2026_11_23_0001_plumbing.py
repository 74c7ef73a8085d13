"""Outbox and processed-event tables.

Revision ID: messaging_0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

from crm_common.plumbing import create_plumbing_tables, drop_plumbing_tables

revision = "messaging_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_plumbing_tables(op, "messaging")


def downgrade() -> None:
    drop_plumbing_tables(op, "messaging")
