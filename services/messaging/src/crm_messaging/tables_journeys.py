"""Tables of journeys: definitions (versioned), runs and their history, and the facts
runs branch and stop on (segment memberships, opens/clicks, orders)."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_messaging.tables import metadata


def _now(name: str) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=False, server_default=func.now())


journeys = Table(
    "journeys",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("journey_id", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("status", Text, nullable=False),  # draft | live | paused | archived
    Column("version", Integer, nullable=False),  # the version new runs pin
    # Denormalised from the current definition: which journeys a fact may start.
    Column("trigger_kind", Text, nullable=False),
    Column("trigger_ref", Text, nullable=False),  # segment id | event type | trait
    _now("created_at"),
    _now("updated_at"),
    PrimaryKeyConstraint("tenant_id", "journey_id"),
    Index("ix_journeys_trigger", "tenant_id", "trigger_kind", "trigger_ref", "status"),
)

journey_versions = Table(
    "journey_versions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("journey_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("definition", JSONB, nullable=False),  # never updated: runs pin a version
    _now("created_at"),
    PrimaryKeyConstraint("tenant_id", "journey_id", "version"),
)

journey_runs = Table(
    "journey_runs",
    metadata,
    Column("run_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("journey_id", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("status", Text, nullable=False),  # active | completed | exited | goal_reached
    Column("current_step_id", Text, nullable=True),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("step_entered_at", DateTime(timezone=True), nullable=False),
    Column("visited", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("context", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("next_wake_at", DateTime(timezone=True), nullable=True),
    Column("exit_reason", Text, nullable=True),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    _now("updated_at"),
    Index(
        "uq_journey_runs_active",
        "tenant_id",
        "journey_id",
        "profile_id",
        unique=True,
        postgresql_where=text("status = 'active'"),
    ),
    Index("ix_journey_runs_due", "next_wake_at", postgresql_where=text("status = 'active'")),
    Index("ix_journey_runs_profile", "tenant_id", "profile_id", "journey_id"),
)

# One run per key of a keyed trigger (checkout token, order id, birthday year).
journey_run_keys = Table(
    "journey_run_keys",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("journey_id", Text, nullable=False),
    Column("run_key", Text, nullable=False),
    Column("run_id", Text, nullable=False),
    _now("created_at"),
    PrimaryKeyConstraint("tenant_id", "journey_id", "run_key"),
)

journey_run_steps = Table(
    "journey_run_steps",
    metadata,
    Column("run_id", Text, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("step_id", Text, nullable=True),
    Column("action", Text, nullable=False),  # entered | wait | moved | sent | ... | exited
    Column("detail", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("run_id", "seq"),
)

journey_memberships = Table(
    "journey_memberships",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("segment_id", Text, nullable=False),
    Column("state", Text, nullable=False),  # in | out
    Column("at", DateTime(timezone=True), nullable=False),
    PrimaryKeyConstraint("tenant_id", "profile_id", "segment_id"),
    # A segment's members in profile order: a campaign's audience in one range scan.
    Index(
        "ix_journey_memberships_segment",
        "tenant_id",
        "segment_id",
        "profile_id",
        postgresql_where=text("state = 'in'"),
    ),
)

# Engagement (opened / clicked) and orders per profile, from profile.activity.
journey_facts = Table(
    "journey_facts",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("kind", Text, nullable=False),  # opened | clicked | order
    Column("ref", Text, nullable=False),  # source event id / order id
    Column("at", DateTime(timezone=True), nullable=False),
    Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    PrimaryKeyConstraint("tenant_id", "profile_id", "kind", "ref"),
)

JOURNEY_TABLES = (
    journeys,
    journey_versions,
    journey_runs,
    journey_run_keys,
    journey_run_steps,
    journey_memberships,
    journey_facts,
)
