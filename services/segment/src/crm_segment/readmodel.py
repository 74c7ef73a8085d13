"""The segment service's read model: profile snapshots, their events, memberships.

Built from ``profile.changed`` (``profiles.traits`` is ``data.traits`` as
published, a JSON object) and canonical events (``events.properties`` is the
event's ``data`` in JSON form: for orders ``total``, ``currency`` and
``lines`` with ``product_id``, ``category``, ``sku``, ``quantity``,
``unit_price``). :mod:`crm_segment.sqlcompile` queries these tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_common.db import make_metadata

SCHEMA = "segment"

metadata = make_metadata(SCHEMA)


def _aware(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


profiles = Table(
    "profiles",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("traits", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("version", BigInteger, nullable=False),
    _aware("updated_at"),
    # When a time-dependent segment could next change for this profile; the
    # sweep selects rows whose moment has passed instead of rescanning all.
    _aware("next_change_at", nullable=True),
    # A merge moved another record's memberships here; the survivor is
    # evaluated again once its merged snapshot (a higher version) arrives.
    Column("merge_pending", Boolean, nullable=False, server_default=text("false")),
    PrimaryKeyConstraint("tenant_id", "profile_id"),
    Index(None, "tenant_id", "next_change_at", postgresql_where=text("next_change_at IS NOT NULL")),
)

events = Table(
    "events",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("type", Text, nullable=False),
    _aware("occurred_at"),
    Column("properties", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    PrimaryKeyConstraint("tenant_id", "event_id"),
    Index(None, "tenant_id", "profile_id", "type", "occurred_at"),
)

memberships = Table(
    "memberships",
    metadata,
    # A surrogate key: a merge re-keys rows to the survivor, whose own history
    # may hold a row with the same entered_at (bulk fills share one instant).
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("segment_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    _aware("entered_at"),
    _aware("exited_at", nullable=True),
    # At most one open membership per profile and segment.
    Index(
        "uq_memberships_open",
        "tenant_id",
        "segment_id",
        "profile_id",
        unique=True,
        postgresql_where=text("exited_at IS NULL"),
    ),
    Index(None, "tenant_id", "profile_id", postgresql_where=text("exited_at IS NULL")),
    Index(None, "tenant_id", "segment_id", "entered_at"),
)

READ_MODEL_TABLES = (profiles, events, memberships)


async def create_read_model(engine: AsyncEngine) -> None:
    """Create the schema and the read-model tables (tests; production uses Alembic)."""
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        await conn.run_sync(lambda c: metadata.create_all(c, tables=list(READ_MODEL_TABLES)))


async def drop_read_model(engine: AsyncEngine) -> None:
    """Drop the read-model tables created by :func:`create_read_model`."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: metadata.drop_all(c, tables=list(READ_MODEL_TABLES)))
