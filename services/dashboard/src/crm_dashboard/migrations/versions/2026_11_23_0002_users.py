"""Console users per tenant and the local copy of tenants.

Revision ID: dashboard_0002
Revises: dashboard_0001
Create Date: 2026-11-23
"""

from alembic import op

from crm_dashboard.tables import NEW_TABLES, metadata

revision = "dashboard_0002"
down_revision = "dashboard_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=list(NEW_TABLES))
    op.create_check_constraint(
        "role", "users", "role IN ('admin', 'marketer', 'viewer')", schema="dashboard"
    )


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=list(reversed(NEW_TABLES)))
