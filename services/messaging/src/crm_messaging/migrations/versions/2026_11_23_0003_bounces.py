"""Bounces and complaints recorded on the message (its state stays sent).

Revision ID: messaging_0003
Revises: messaging_0002
Create Date: 2026-11-23

``IF NOT EXISTS``: databases migrated before messaging_0002 was made explicit (it
then created the tables from the current ``tables.py``) have the columns already.
"""

from alembic import op

revision = "messaging_0003"
down_revision = "messaging_0002"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("bounce", "text"),
    ("bounced_at", "timestamptz"),
    ("complained_at", "timestamptz"),
)


def upgrade() -> None:
    for name, kind in _COLUMNS:
        op.execute(f"ALTER TABLE messaging.messages ADD COLUMN IF NOT EXISTS {name} {kind}")


def downgrade() -> None:
    for name, _ in _COLUMNS:
        op.execute(f"ALTER TABLE messaging.messages DROP COLUMN IF EXISTS {name}")
