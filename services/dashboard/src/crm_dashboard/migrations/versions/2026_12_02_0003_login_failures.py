"""Failed sign-ins per account and per address, for the sign-in throttle.

Revision ID: dashboard_0003
Revises: dashboard_0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "dashboard_0003"
down_revision = "dashboard_0002"
branch_labels = None
depends_on = None

SCHEMA = "dashboard"


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_login_failures")),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("login_failures", schema=SCHEMA)
