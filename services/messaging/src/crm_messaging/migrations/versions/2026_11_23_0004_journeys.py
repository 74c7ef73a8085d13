"""Journeys: definitions, versions, runs, run keys, step history, memberships, facts.

Revision ID: messaging_0004
Revises: messaging_0003
Create Date: 2026-11-23

``checkfirst``: messaging_0002 creates every table of the metadata it sees.
"""

from alembic import op

from crm_messaging.tables import metadata
from crm_messaging.tables_journeys import JOURNEY_TABLES

revision = "messaging_0004"
down_revision = "messaging_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(JOURNEY_TABLES), checkfirst=True)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(JOURNEY_TABLES), checkfirst=True)
