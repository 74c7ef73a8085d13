"""Replayed dead letters are keyed by their DLQ topic too.

A letter is (topic, partition, offset): without the topic, a second installation
prefix (or a test's own topics) sharing the database saw its letters as replayed.
Rows written before this revision belong to the installation's one DLQ topic and
keep an empty topic, which the service reads as that topic.

Revision ID: ingest_0003
Revises: ingest_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "ingest_0003"
down_revision = "ingest_0002"
branch_labels = None
depends_on = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.add_column(
        "dlq_replays",
        sa.Column("dlq_topic", sa.Text(), nullable=False, server_default=sa.text("''")),
        schema=SCHEMA,
    )
    op.drop_index(op.f("uq_dlq_replays_letter"), table_name="dlq_replays", schema=SCHEMA)
    op.create_index(
        op.f("uq_dlq_replays_letter"),
        "dlq_replays",
        ["dlq_topic", "dlq_partition", "dlq_offset"],
        unique=True,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index(op.f("uq_dlq_replays_letter"), table_name="dlq_replays", schema=SCHEMA)
    op.create_index(
        op.f("uq_dlq_replays_letter"),
        "dlq_replays",
        ["dlq_partition", "dlq_offset"],
        unique=True,
        schema=SCHEMA,
    )
    op.drop_column("dlq_replays", "dlq_topic", schema=SCHEMA)
