"""An app uninstall disconnects the shop domain and retires its webhook secrets.

``shop_domains.disconnected_at`` and ``webhook_secrets.revoked_reason`` (NULL for an
operator's revocation, ``app_uninstalled`` for one made by ``app/uninstalled``).

Revision ID: ingest_0005
Revises: ingest_0004
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "ingest_0005"
down_revision = "ingest_0004"
branch_labels = None
depends_on = None

SCHEMA = "ingest"


def upgrade() -> None:
    op.add_column(
        "shop_domains",
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.add_column(
        "webhook_secrets", sa.Column("revoked_reason", sa.Text(), nullable=True), schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_column("webhook_secrets", "revoked_reason", schema=SCHEMA)
    op.drop_column("shop_domains", "disconnected_at", schema=SCHEMA)
