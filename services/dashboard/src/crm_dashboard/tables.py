"""Tables of the dashboard schema (only this service reads or writes them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_common.db import make_metadata
from crm_common.plumbing import outbox_table, processed_events_table
from crm_common.tenancy import tenants_table
from crm_dashboard.config import SCHEMA

metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
tenants = tenants_table(metadata)

ROLES = ("admin", "marketer", "viewer")

users = Table(
    "users",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("role", Text, nullable=False),
    # Installation operator (every tenant's dead letters, installation-wide numbers);
    # set by the CLI only (dashboard_0004).
    Column("operator", Boolean, nullable=False, server_default=false()),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_login_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("tenant_id", "email"),
)

# Failed sign-ins per key ("account:<tenant>:<email>" or "address:<ip>") and fixed
# window (epoch seconds // window length): the throttle in handlers/signin_limits.py.
login_failures = Table(
    "login_failures",
    metadata,
    Column("key", Text, nullable=False),
    Column("window_start", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    PrimaryKeyConstraint("key", "window_start"),
)

# Who did what in the console (crm_dashboard.audit): viewed a customer, exported
# members, downloaded a print file or the call list, changed settings or keys.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("user_id", Text, nullable=False),
    Column("email", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),  # customer.viewed, settings.changed ...
    Column("target", Text, nullable=False, server_default=""),  # profile id, key id ...
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Index("ix_audit_log_tenant_at", "tenant_id", "at"),
)

NEW_TABLES = (tenants, users, login_failures, audit_log)
