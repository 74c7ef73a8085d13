"""Tenants, webhook secrets, API keys, accepted events, rate windows, imports, DLQ replays.

Revision ID: ingest_0002
Revises: ingest_0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "ingest_0002"
down_revision = "ingest_0001"
branch_labels = None
depends_on = None

SCHEMA = "ingest"


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    )


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("shop_domains", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("api_key_hashes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("rate_limit_per_second", sa.Integer(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenants")),
        schema=SCHEMA,
    )
    op.create_table(
        "shop_domains",
        sa.Column("shop_domain", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        _created_at(),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            [f"{SCHEMA}.tenants.tenant_id"],
            name=op.f("fk_shop_domains_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("shop_domain", name=op.f("pk_shop_domains")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_shop_domains_tenant_id"), "shop_domains", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "webhook_secrets",
        sa.Column("secret_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        _created_at(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            [f"{SCHEMA}.tenants.tenant_id"],
            name=op.f("fk_webhook_secrets_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("secret_id", name=op.f("pk_webhook_secrets")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("ix_webhook_secrets_tenant_id"), "webhook_secrets", ["tenant_id"], schema=SCHEMA
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.Text(), nullable=False),
        _created_at(),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            [f"{SCHEMA}.tenants.tenant_id"],
            name=op.f("fk_api_keys_tenant_id_tenants"),
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_api_keys_tenant_id"), "api_keys", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "accepted_events",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column(
            "accepted_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("tenant_id", "event_id", name=op.f("pk_accepted_events")),
        schema=SCHEMA,
    )
    op.create_table(
        "rate_windows",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("window_start", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "window_start", name=op.f("pk_rate_windows")),
        schema=SCHEMA,
    )
    op.create_table(
        "imports",
        sa.Column("import_id", sa.Text(), nullable=False),
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("encoding", sa.Text(), nullable=True),
        sa.Column("spool_path", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("rows_read", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("accepted", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("events", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("rejected", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("duplicates", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        _created_at(),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("import_id", name=op.f("pk_imports")),
        schema=SCHEMA,
    )
    op.create_index(op.f("ix_imports_tenant_id"), "imports", ["tenant_id"], schema=SCHEMA)
    op.create_table(
        "import_rejections",
        sa.Column("import_id", sa.Text(), nullable=False),
        sa.Column("line", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "line", name=op.f("pk_import_rejections")),
        schema=SCHEMA,
    )
    op.create_table(
        "import_fingerprints",
        sa.Column("import_id", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("import_id", "fingerprint", name=op.f("pk_import_fingerprints")),
        schema=SCHEMA,
    )
    op.create_table(
        "dlq_replays",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("dlq_partition", sa.Integer(), nullable=False),
        sa.Column("dlq_offset", sa.BigInteger(), nullable=False),
        sa.Column(
            "replayed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dlq_replays")),
        schema=SCHEMA,
    )
    op.create_index(
        op.f("uq_dlq_replays_letter"),
        "dlq_replays",
        ["dlq_partition", "dlq_offset"],
        unique=True,
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_index(op.f("uq_dlq_replays_letter"), table_name="dlq_replays", schema=SCHEMA)
    op.drop_table("dlq_replays", schema=SCHEMA)
    op.drop_table("import_fingerprints", schema=SCHEMA)
    op.drop_table("import_rejections", schema=SCHEMA)
    op.drop_index(op.f("ix_imports_tenant_id"), table_name="imports", schema=SCHEMA)
    op.drop_table("imports", schema=SCHEMA)
    op.drop_table("rate_windows", schema=SCHEMA)
    op.drop_table("accepted_events", schema=SCHEMA)
    op.drop_index(op.f("ix_api_keys_tenant_id"), table_name="api_keys", schema=SCHEMA)
    op.drop_table("api_keys", schema=SCHEMA)
    op.drop_index(op.f("ix_webhook_secrets_tenant_id"), table_name="webhook_secrets", schema=SCHEMA)
    op.drop_table("webhook_secrets", schema=SCHEMA)
    op.drop_index(op.f("ix_shop_domains_tenant_id"), table_name="shop_domains", schema=SCHEMA)
    op.drop_table("shop_domains", schema=SCHEMA)
    op.drop_table("tenants", schema=SCHEMA)
