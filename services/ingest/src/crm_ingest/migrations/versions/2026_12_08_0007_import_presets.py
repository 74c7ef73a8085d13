"""CSV imports remember the cart export they were uploaded as (``imports.preset``).

NULL for a file read by the generic column names; else a preset name of
``crm_ingest.domain.csv_presets`` (``eccube4``, ``futureshop``, ``makeshop``).

Revision ID: ingest_0007
Revises: ingest_0006
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "ingest_0007"
down_revision = "ingest_0006"
branch_labels = None
depends_on = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.add_column("imports", sa.Column("preset", sa.Text(), nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("imports", "preset", schema=SCHEMA)
