"""Segment members by segment: a campaign freezes its audience with one index range scan.

Revision ID: messaging_0006
Revises: messaging_0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "messaging_0006"
down_revision = "messaging_0005"
branch_labels = None
depends_on = None

SCHEMA = "messaging"


def upgrade() -> None:
    op.create_index(
        op.f("ix_journey_memberships_segment"),
        "journey_memberships",
        ["tenant_id", "segment_id", "profile_id"],
        schema=SCHEMA,
        postgresql_where=sa.text("state = 'in'"),
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_journey_memberships_segment"), table_name="journey_memberships", schema=SCHEMA
    )
