"""Send pipeline: tenants, settings, recipients, templates, messages, DM batches,
call list, orders.

Revision ID: messaging_0002
Revises: messaging_0001
Create Date: 2026-11-23
"""

from alembic import op

from crm_messaging.tables import NEW_TABLES, metadata

revision = "messaging_0002"
down_revision = "messaging_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(NEW_TABLES))


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(NEW_TABLES))
