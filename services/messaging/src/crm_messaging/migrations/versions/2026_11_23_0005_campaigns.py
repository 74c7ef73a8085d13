"""Campaigns, their frozen audiences, engagement facts, attributions.

Revision ID: messaging_0005
Revises: messaging_0004
Create Date: 2026-11-23
"""

from alembic import op

from crm_messaging.tables import metadata
from crm_messaging.tables_campaigns import CAMPAIGN_TABLES

revision = "messaging_0005"
down_revision = "messaging_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(CAMPAIGN_TABLES), checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(CAMPAIGN_TABLES), checkfirst=True)
