"""Tables of the profile schema (only this service reads or writes them).

* ``profiles``: one row per record; an alias (merged away) keeps its row with
  ``merged_into`` set to the survivor. ``attributes`` and ``permissions`` are
  the domain's :class:`Attributes` / :class:`Permissions` as JSON (with their
  per-field stamps, so later events still converge); ``traits`` is the flat
  snapshot last published.
  ``traits_computed_at`` says when that snapshot was last computed.
* ``rank_history``: when each profile's RFM rank changed (rank movement).
* ``identifiers``: ``(tenant, kind, value)`` is unique, so the database decides
  who owns an identifier when two consumers race to create the same person.
* ``orders``, ``subscriptions``: convergent facts per order / contract;
  ``profile_id`` is NULL for an order known only from a refund so far.
* ``engagement``: one row per message lifecycle event (a set).
* ``timeline``: what happened to the profile, newest first; summaries carry no
  personal data by construction (ids, amounts, channels, field names).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    PrimaryKeyConstraint,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from crm_common.db import make_metadata
from crm_common.plumbing import outbox_table, processed_events_table
from crm_common.tenancy import tenants_table
from crm_profile.config import SCHEMA

metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
tenants = tenants_table(metadata)
TRAITS_DUE_INDEX = "ix_profiles_traits_computed_at"


def _at(name: str, nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(name, DateTime(timezone=True), nullable=nullable)


def _json(name: str, nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(
        name, JSONB, nullable=nullable, server_default=None if nullable else text("'{}'::jsonb")
    )


profiles = Table(
    "profiles",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    _at("created_at"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("version", BigInteger, nullable=False, server_default=text("0")),
    Column("merged_into", Text, nullable=True),
    _at("deleted_at", nullable=True),
    _at("redacted_at", nullable=True),
    _json("attributes"),
    _json("permissions"),
    _json("traits"),
    Column("rfm_rank_previous", Text, nullable=True),
    # When ``traits`` were last computed (service clock): the refresher recomputes
    # time-dependent traits of profiles whose traits are too old.
    Column(
        "traits_computed_at", DateTime(timezone=True), nullable=False, server_default=func.now()
    ),
    PrimaryKeyConstraint("tenant_id", "profile_id"),
    Index(None, "tenant_id", "merged_into", postgresql_where=text("merged_into IS NOT NULL")),
    Index(TRAITS_DUE_INDEX, "traits_computed_at", postgresql_where=text("merged_into IS NULL")),
)

identifiers = Table(
    "identifiers",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    _at("created_at"),
    PrimaryKeyConstraint("tenant_id", "kind", "value"),
    Index(None, "tenant_id", "profile_id"),
)

orders = Table(
    "orders",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("order_id", Text, nullable=False),
    Column("profile_id", Text, nullable=True),
    _json("fact", nullable=True),
    _at("placed_at", nullable=True),
    PrimaryKeyConstraint("tenant_id", "order_id"),
    Index(None, "tenant_id", "profile_id"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("contract_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    _json("fact", nullable=True),
    PrimaryKeyConstraint("tenant_id", "contract_id"),
    Index(None, "tenant_id", "profile_id"),
)

engagement = Table(
    "engagement",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    _json("fact"),
    PrimaryKeyConstraint("tenant_id", "event_id"),
    Index(None, "tenant_id", "profile_id"),
)

timeline = Table(
    "timeline",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("profile_id", Text, nullable=True),  # NULL: about an order with no profile yet
    Column("type", Text, nullable=False),
    _at("occurred_at"),
    Column("source", Text, nullable=False),
    _json("summary"),
    PrimaryKeyConstraint("tenant_id", "event_id"),
    Index(None, "tenant_id", "profile_id", "occurred_at", "event_id"),
)

rfm_settings = Table(
    "rfm_settings",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    _json("thresholds"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# A row per change of a profile's RFM rank (``rank`` NULL: the rank was lost),
# written with the batch that changed it; the rank in effect at ``t`` is the
# latest row with ``valid_from <= t``. Created by profile_0004, not in
# PROFILE_TABLES (profile_0002 creates those).
rank_history = Table(
    "rank_history",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    Column("rank", Text, nullable=True),
    _at("valid_from"),
    PrimaryKeyConstraint("tenant_id", "profile_id", "valid_from"),
)

# Loyalty (profile_0005, not in PROFILE_TABLES): every version of a tenant's rules
# (``LoyaltyRules`` JSON, in effect from ``effective_from``) and the points entries
# written through the API or the birthday sweep (``PointsEntry`` JSON), unique per
# tenant by their idempotency key. Points earned by orders are not stored: they are
# recomputed from the order facts (crm_profile.domain.points).
loyalty_settings = Table(
    "loyalty_settings",
    metadata,
    Column("tenant_id", Text, nullable=False),
    _at("effective_from"),
    _json("rules"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "effective_from"),
)

points_entries = Table(
    "points_entries",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("entry_key", Text, nullable=False),
    Column("profile_id", Text, nullable=False),
    _json("entry"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("tenant_id", "entry_key"),
    Index(None, "tenant_id", "profile_id"),
)

PROFILE_TABLES = (
    tenants,
    profiles,
    identifiers,
    orders,
    subscriptions,
    engagement,
    timeline,
    rfm_settings,
)
