"""accepted_events is pruned by age: a BRIN index on accepted_at.

Revision ID: ingest_0004
Revises: ingest_0003
Create Date: 2026-12-07
"""

from alembic import op

revision = "ingest_0004"
down_revision = "ingest_0003"
branch_labels = None
depends_on = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.create_index(
        op.f("ix_accepted_events_accepted_at"),
        "accepted_events",
        ["accepted_at"],
        schema=SCHEMA,
        postgresql_using="brin",
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_accepted_events_accepted_at"), table_name="accepted_events", schema=SCHEMA
    )
