"""Tables of the segment schema (only this service reads or writes them).

One ``MetaData`` for the whole schema: the read model (profiles, events,
memberships in :mod:`crm_segment.readmodel`, which the SQL compiler queries)
is defined there and the service's own tables are added here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_common.plumbing import outbox_table, processed_events_table
from crm_common.tenancy import tenants_table
from crm_segment.readmodel import events, memberships, metadata, profiles

__all__ = [
    "NEW_TABLES",
    "catalog_versions",
    "erased_profiles",
    "events",
    "fill_claims",
    "memberships",
    "merged_profiles",
    "metadata",
    "outbox",
    "processed_events",
    "profiles",
    "segment_jobs",
    "segment_size_history",
    "segments",
    "tenants",
]

outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
tenants = tenants_table(metadata)


def _stamp(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


segments = Table(
    "segments",
    metadata,
    Column("segment_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("definition", JSONB, nullable=False),
    Column("definition_version", Integer, nullable=False, server_default=text("1")),
    Column("kind", Text, nullable=False),  # dynamic | snapshot
    Column("status", Text, nullable=False),  # active | archived
    Column("template_key", Text, nullable=True),
    # 固定 segments: the moment they are frozen at; filled_at once they are.
    _stamp("snapshot_at", nullable=True),
    _stamp("filled_at", nullable=True),
    _stamp("created_at"),
    _stamp("updated_at"),
    Index(None, "tenant_id", "status"),
)

# Bumped in the transaction of every change to a tenant's segments: each
# replica compares it per batch and reloads its in-memory index when it moved.
catalog_versions = Table(
    "catalog_versions",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Records merged into another: late snapshots or events naming them are
# redirected to (or ignored in favour of) the survivor.
merged_profiles = Table(
    "merged_profiles",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("survivor_id", Text, nullable=False),
    _stamp("merged_at"),
    PrimaryKeyConstraint("tenant_id", "profile_id"),
)

# The size of each active segment per local day of its tenant: the sweeper
# upserts today's row with the current count; a day without a row kept the
# size of the day before. Created by segment_0003 (not in NEW_TABLES).
segment_size_history = Table(
    "segment_size_history",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("segment_id", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("size", BigInteger, nullable=False),
    _stamp("recorded_at"),
    PrimaryKeyConstraint("tenant_id", "segment_id", "day"),
)

# Erasures applied (privacy.redact_requested, as profile attributed it): events of
# the profile that occurred up to ``erased_through`` keep no personal data, also
# when they arrive (or are merged in) later. Created by segment_0004.
erased_profiles = Table(
    "erased_profiles",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    _stamp("erased_through"),
    PrimaryKeyConstraint("tenant_id", "profile_id"),
)

# Fills and refills as background jobs (handlers/jobs.py): one row per job, its
# progress and outcome. Created by segment_0005.
segment_jobs = Table(
    "segment_jobs",
    metadata,
    Column("job_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("segment_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # fill | snapshot
    Column("reason", Text, nullable=False),  # the events' reason: created, edited, ...
    Column("definition_version", Integer, nullable=False),
    Column("state", Text, nullable=False),  # queued | running | done | failed | cancelled
    # The statement timeout of its chunks: SEGMENT_FILL_TIMEOUT_SECONDS of the replica
    # that accepted the request.
    Column("timeout_seconds", Float, nullable=False),
    Column("cursor", Text, nullable=True),  # the last profile id filled, in "C" order
    Column("total", BigInteger, nullable=False, server_default=text("0")),
    Column("done", BigInteger, nullable=False, server_default=text("0")),
    Column("entered", BigInteger, nullable=False, server_default=text("0")),
    Column("exited", BigInteger, nullable=False, server_default=text("0")),
    Column("error", JSONB, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    _stamp("lease_until", nullable=True),
    _stamp("created_at"),
    _stamp("started_at", nullable=True),
    _stamp("finished_at", nullable=True),
    Index(None, "state", "created_at"),
    Index(None, "tenant_id", "segment_id", "created_at"),
)

# Who decides a profile's membership of a segment being filled (repository/claims.py).
# UNLOGGED: a claim matters only while its transaction runs. Created by segment_0005.
fill_claims = Table(
    "fill_claims",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("segment_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    PrimaryKeyConstraint("tenant_id", "segment_id", "profile_id"),
    prefixes=["UNLOGGED"],
)

NEW_TABLES = (
    profiles,
    events,
    memberships,
    tenants,
    segments,
    catalog_versions,
    merged_profiles,
)
"""Created by revision segment_0002 (segment_0001 made the outbox and processed ids)."""
