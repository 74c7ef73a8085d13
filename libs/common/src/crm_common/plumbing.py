"""Tables every service schema has: the transactional outbox and processed event ids."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_common.db import NAMING_CONVENTION


def outbox_table(metadata: MetaData) -> Table:
    """Rows written in the same transaction as the state change they announce."""
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, Identity(always=True), primary_key=True),
        Column("topic", Text, nullable=False),
        Column("key", Text, nullable=True),
        Column("event_id", Text, nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True), nullable=True),
        Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=text("published_at IS NULL"),
        ),
    )


def processed_events_table(metadata: MetaData) -> Table:
    """Event ids a consumer group has applied: the idempotence guard."""
    return Table(
        "processed_events",
        metadata,
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id"),
    )


@cache
def plumbing_tables(schema: str) -> tuple[Table, Table]:
    """``(outbox, processed_events)`` of one service schema."""
    metadata = MetaData(schema=schema, naming_convention=NAMING_CONVENTION)
    return outbox_table(metadata), processed_events_table(metadata)


def create_plumbing_tables(op: Any, schema: str) -> None:
    """Alembic helper for a service's first revision (``op`` is ``alembic.op``).

    Explicit operations, not :func:`outbox_table` / :func:`processed_events_table`:
    this is the schema as of every service's first revision, frozen. A later change
    to those tables needs a new revision in each service, not an edit here.
    """
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("key", sa.Text(), nullable=True),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("headers", JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema=schema,
    )
    op.create_index(
        op.f("ix_outbox_unpublished"),
        "outbox",
        ["id"],
        unique=False,
        schema=schema,
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "processed_events",
        sa.Column("consumer", sa.Text(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=False),
        sa.Column(
            "processed_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.PrimaryKeyConstraint("consumer", "event_id", name=op.f("pk_processed_events")),
        schema=schema,
    )


def drop_plumbing_tables(op: Any, schema: str) -> None:
    """Undo :func:`create_plumbing_tables`."""
    op.drop_table("processed_events", schema=schema)
    op.drop_index(op.f("ix_outbox_unpublished"), table_name="outbox", schema=schema)
    op.drop_table("outbox", schema=schema)


@dataclass(frozen=True)
class Retention:
    """Rows of ``table`` whose timestamp ``column`` is older than ``days`` are
    forgotten: what a service keeps only for a horizon (dedup ids, claimed facts)."""

    table: Table
    column: str
    days: int


async def prune_older_than(engine: Any, rule: Retention) -> int:
    """Delete the rows ``rule`` no longer keeps; return rows deleted."""
    column = rule.table.c[rule.column]
    async with engine.begin() as conn:
        result = await conn.execute(
            rule.table.delete().where(
                column < func.now() - text(f"interval '{int(rule.days)} days'")
            )
        )
    return int(result.rowcount or 0)


def processed_events_retention(schema: str, older_than_days: int) -> Retention:
    """Processed ids kept for the redelivery horizon.

    Dedup must outlive every way a record can come back (Kafka redelivery after a
    crash is seconds; Shopify retries for hours; a DLQ replay is deliberate and
    bypasses dedup anyway), so the default horizon of 14 days is generous.
    """
    _, processed = plumbing_tables(schema)
    return Retention(processed, "processed_at", older_than_days)


async def prune_processed_events(engine: Any, schema: str, older_than_days: int) -> int:
    """Forget processed ids older than the redelivery horizon; return rows deleted."""
    return await prune_older_than(engine, processed_events_retention(schema, older_than_days))
