"""Webhook secrets are sealed at rest: ``secret`` (plaintext) becomes ``sealed_secret``.

A data migration: every existing secret is sealed with the newest key of
``INGEST_SECRETS_KEY`` (:mod:`crm_ingest.sealing`, bound to its row) and the
plaintext column is dropped. With rows to seal and outside dev mode, a missing,
published or short key stops the migration and names the variable (nothing is
sealed with a key anyone knows). The downgrade opens them again (same key needed).

Revision ID: ingest_0006
Revises: ingest_0005
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

from crm_common.secrets import check_secrets
from crm_ingest.config import IngestService
from crm_ingest.sealing import SecretBox, secret_row

revision = "ingest_0006"
down_revision = "ingest_0005"
branch_labels = None
depends_on = None

SCHEMA = "ingest"
_TABLE = f"{SCHEMA}.webhook_secrets"


def _box() -> SecretBox:
    key = IngestService().secrets_key
    check_secrets({"INGEST_SECRETS_KEY": key})
    return SecretBox.from_setting(key.get_secret_value())


def _rewrite(source: str, target: str, change: str) -> None:
    """``target`` := ``change``(``source``) for every row ("seal" or "open")."""
    conn = op.get_bind()
    rows = conn.execute(sa.text(f"SELECT secret_id, tenant_id, {source} FROM {_TABLE}")).all()
    if not rows:
        return
    box = _box()
    for secret_id, tenant_id, value in rows:
        place = secret_row(tenant_id, secret_id)
        new = box.seal(value, row=place) if change == "seal" else box.open(value, row=place)
        conn.execute(
            sa.text(f"UPDATE {_TABLE} SET {target} = :v WHERE secret_id = :i"),
            {"v": new, "i": secret_id},
        )


def upgrade() -> None:
    op.add_column("webhook_secrets", sa.Column("sealed_secret", sa.Text()), schema=SCHEMA)
    _rewrite("secret", "sealed_secret", "seal")
    op.alter_column("webhook_secrets", "sealed_secret", nullable=False, schema=SCHEMA)
    op.drop_column("webhook_secrets", "secret", schema=SCHEMA)


def downgrade() -> None:
    op.add_column("webhook_secrets", sa.Column("secret", sa.Text()), schema=SCHEMA)
    _rewrite("sealed_secret", "secret", "open")
    op.alter_column("webhook_secrets", "secret", nullable=False, schema=SCHEMA)
    op.drop_column("webhook_secrets", "sealed_secret", schema=SCHEMA)
