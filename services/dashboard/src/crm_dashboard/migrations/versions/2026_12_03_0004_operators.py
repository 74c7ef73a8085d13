"""Installation operators: a flag on console users, apart from their tenant role.

An operator sees and replays every tenant's dead letters and the installation-wide
numbers of the operations view; only ``create-user --operator`` (the CLI, run by
whoever runs the installation) sets it, never a tenant's admin in the console.

Revision ID: dashboard_0004
Revises: dashboard_0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "dashboard_0004"
down_revision = "dashboard_0003"
branch_labels = None
depends_on = None

SCHEMA = "dashboard"


def upgrade() -> None:
    op.add_column(
        "users",
        sa.Column("operator", sa.Boolean(), nullable=False, server_default=sa.false()),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_column("users", "operator", schema=SCHEMA)
