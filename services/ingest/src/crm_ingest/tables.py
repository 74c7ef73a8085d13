"""Tables of the ingest schema (only this service reads or writes them).

``tenants`` has the shape every service shares (:func:`crm_common.tenancy.tenants_table`,
so :func:`crm_common.tenancy.authenticate` works on it) plus ingest's own
``rate_limit_per_second``; the secrets, keys and shop domains behind it live in their
own tables, and ``tenants.shop_domains`` / ``tenants.api_key_hashes`` are kept equal to
the active rows there.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)

from crm_common.db import make_metadata
from crm_common.plumbing import outbox_table, processed_events_table
from crm_common.tenancy import tenants_table
from crm_ingest.config import SCHEMA

metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)

tenants = tenants_table(metadata)
tenants.append_column(Column("rate_limit_per_second", Integer, nullable=True))
tenants.append_column(
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())
)

_TENANT_FK = f"{SCHEMA}.tenants.tenant_id"


def _now() -> Column[object]:
    return Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now())


shop_domains = Table(
    "shop_domains",
    metadata,
    Column("shop_domain", Text, primary_key=True),
    Column("tenant_id", Text, ForeignKey(_TENANT_FK), nullable=False, index=True),
    _now(),
    # Set when the shop uninstalled the app: the domain stays the tenant's (its data
    # stays until shop/redact) but takes no more data webhooks.
    Column("disconnected_at", DateTime(timezone=True), nullable=True),
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("secret_id", Text, primary_key=True),
    Column("tenant_id", Text, ForeignKey(_TENANT_FK), nullable=False, index=True),
    # The secret sealed with INGEST_SECRETS_KEY (crm_ingest.sealing), never plaintext.
    Column("sealed_secret", Text, nullable=False),
    _now(),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    # Why: NULL (an operator) or 'app_uninstalled' (still verifies Shopify's privacy
    # webhooks, which arrive after the uninstall signed with the same secret).
    Column("revoked_reason", Text, nullable=True),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("tenant_id", Text, ForeignKey(_TENANT_FK), nullable=False, index=True),
    Column("key_hash", Text, nullable=False, unique=True),
    _now(),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

accepted_events = Table(
    "accepted_events",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("accepted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "event_id"),
    # Pruned by age (INGEST_ACCEPTED_RETENTION_DAYS): rows arrive in time order, so a
    # BRIN index finds the old ones without a scan and costs next to nothing to keep.
    Index("ix_accepted_events_accepted_at", "accepted_at", postgresql_using="brin"),
)

rate_windows = Table(
    "rate_windows",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("hits", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "window_start"),
)

imports = Table(
    "imports",
    metadata,
    Column("import_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False, index=True),
    Column("kind", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("preset", Text, nullable=True),  # the cart export the file is (csv_presets)
    Column("encoding", Text, nullable=True),
    Column("spool_path", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("owner", Text, nullable=True),
    Column("rows_read", BigInteger, nullable=False, server_default="0"),
    Column("accepted", BigInteger, nullable=False, server_default="0"),
    Column("events", BigInteger, nullable=False, server_default="0"),
    Column("rejected", BigInteger, nullable=False, server_default="0"),
    Column("duplicates", BigInteger, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    _now(),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True), nullable=True),
)

import_rejections = Table(
    "import_rejections",
    metadata,
    Column("import_id", Text, nullable=False),
    Column("line", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    PrimaryKeyConstraint("import_id", "line"),
)

import_fingerprints = Table(
    "import_fingerprints",
    metadata,
    Column("import_id", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    PrimaryKeyConstraint("import_id", "fingerprint"),
)

dlq_replays = Table(
    "dlq_replays",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column("dlq_partition", Integer, nullable=False),
    Column("dlq_offset", BigInteger, nullable=False),
    Column("replayed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # '' for rows from before the column: the installation's one DLQ topic.
    Column("dlq_topic", Text, nullable=False, server_default=text("''")),
    Index("uq_dlq_replays_letter", "dlq_topic", "dlq_partition", "dlq_offset", unique=True),
)

INGEST_TABLES = [
    tenants,
    shop_domains,
    webhook_secrets,
    api_keys,
    accepted_events,
    rate_windows,
    imports,
    import_rejections,
    import_fingerprints,
    dlq_replays,
]
