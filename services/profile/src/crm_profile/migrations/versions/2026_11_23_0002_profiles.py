"""Profiles, identifiers, facts, timeline, RFM settings and the local tenants table.

Revision ID: profile_0002
Revises: profile_0001
Create Date: 2026-11-23
"""

from alembic import op

from crm_profile.tables import PROFILE_TABLES, metadata

revision = "profile_0002"
down_revision = "profile_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(PROFILE_TABLES))


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(PROFILE_TABLES))
