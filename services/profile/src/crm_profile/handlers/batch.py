"""The unit of work of one tenant's events within one transaction.

Profiles are locked once (``SELECT ... FOR UPDATE``) and then kept in memory
for the rest of the batch, as are the order and subscription facts; facts and
profiles are written back once at the end (:mod:`crm_profile.handlers.publish`).
So are the batch's decisions about identity: profiles created here (``new``)
and identifiers claimed here (``claims``) are written in one statement each at
the end, where the database's unique key on identifiers checks them
(:func:`crm_profile.handlers.identity.write_identity`). Identifiers the batch
looked up and found unowned are remembered (``unowned``), so resolving an event
asks the database nothing the batch already asked.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events import Frozen
from crm_profile.domain import (
    Attributes,
    Identifier,
    OrderFact,
    Permissions,
    ProfileRef,
    RfmThresholds,
    SubscriptionFact,
)
from crm_profile.domain.loyalty_rules import Programme
from crm_profile.repository import facts as fact_repo
from crm_profile.repository import records
from crm_profile.repository.records import ProfileRow


@dataclass
class Profile:
    """A locked profile held in memory until the batch is written back.

    Attributes are parsed on first use (``attributes``): most events (orders,
    consent, checkouts) never change them, and the snapshot reads what it needs
    from the stored JSON (:func:`crm_profile.domain.snapshot.attribute_parts`).
    """

    profile_id: str
    created_at: datetime
    version: int
    stored_attributes: dict[str, Any]  # the row's JSON, as loaded
    permissions: Permissions
    identifiers: set[Identifier]
    traits: dict[str, Any]
    deleted_at: datetime | None = None
    redacted_at: datetime | None = None
    rfm_rank_previous: str | None = None
    changed: bool = False  # identity, attributes, permissions or flags changed
    touched: bool = False  # some fact changed: recompute traits
    new: bool = False  # created in this batch: its row is inserted at the end
    parsed_attributes: Attributes | None = None  # None: still ``stored_attributes``
    stored_permissions: Permissions | None = None  # as loaded (``permissions`` is it: unchanged)

    @property
    def attributes(self) -> Attributes:
        if self.parsed_attributes is None:
            self.parsed_attributes = Attributes.model_validate(self.stored_attributes)
        return self.parsed_attributes

    @attributes.setter
    def attributes(self, value: Attributes) -> None:
        self.parsed_attributes = value

    @classmethod
    def from_row(cls, row: ProfileRow, idents: set[Identifier]) -> Profile:
        permissions = Permissions.model_validate(row.permissions)
        return cls(
            profile_id=row.profile_id,
            created_at=row.created_at,
            version=row.version,
            stored_attributes=row.attributes,
            permissions=permissions,
            stored_permissions=permissions,
            identifiers=idents,
            traits=row.traits,
            deleted_at=row.deleted_at,
            redacted_at=row.redacted_at,
            rfm_rank_previous=row.rfm_rank_previous,
        )

    def ref(self, extra: frozenset[Identifier] = frozenset()) -> ProfileRef:
        return ProfileRef(
            profile_id=self.profile_id,
            created_at=self.created_at,
            identifiers=frozenset(self.identifiers) | extra,
        )

    def seen_at(self, when: datetime) -> None:
        """``created_at`` is the earliest event time known for the person."""
        if when < self.created_at:
            self.created_at = when
            self.changed = True


@dataclass
class Held:
    """An order or subscription fact held (locked) for this batch."""

    key: str
    profile_id: str | None
    fact: Any
    dirty: bool = False


@dataclass
class TenantBatch:
    session: AsyncSession
    tenant_id: str
    now: datetime
    thresholds: RfmThresholds
    profiles: dict[str, Profile] = field(default_factory=dict)
    owner: dict[Identifier, str] = field(default_factory=dict)
    alias: dict[str, str] = field(default_factory=dict)
    orders: dict[str, Held] = field(default_factory=dict)
    subscriptions: dict[str, Held] = field(default_factory=dict)
    engagement: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    outgoing: list[Frozen] = field(default_factory=list)  # profile.merged, in order
    # (timeline row, event): republished as profile.activity once the row's profile is final
    activity: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    applied: int = 0
    unowned: set[Identifier] = field(default_factory=set)  # looked up: nobody owns them
    claims: dict[Identifier, str] = field(default_factory=dict)  # to insert, for profile
    adopt: dict[str, str] = field(default_factory=dict)  # order id -> profile (ownerless rows)
    created_aliases: dict[str, datetime] = field(default_factory=dict)  # new, then merged away
    # id(event) -> (stored identifiers, directly named profile id); events outlive the batch
    identifiers: dict[int, tuple[list[Identifier], str | None]] = field(default_factory=dict)
    programme: Programme | None = None  # the tenant's loyalty rules: None, no programme

    def live(self, profile_id: str | None) -> str | None:
        """The surviving id of ``profile_id`` after merges in this batch."""
        while profile_id is not None and profile_id in self.alias:
            profile_id = self.alias[profile_id]
        return profile_id

    async def lock(self, profile_ids: Collection[str]) -> None:
        """Lock and load profiles not held yet; aliases are recorded, not held."""
        missing = {p for p in profile_ids if p not in self.profiles and p not in self.alias}
        if not missing:
            return
        rows = await records.lock_profiles(self.session, self.tenant_id, missing)
        live = [r for r in rows if r.merged_into is None]
        for row in rows:
            if row.merged_into is not None:
                self.alias[row.profile_id] = row.merged_into
        idents = await records.identifiers_of_profiles(
            self.session, self.tenant_id, [r.profile_id for r in live]
        )
        for row in live:
            self.profiles[row.profile_id] = Profile.from_row(row, idents[row.profile_id])
            for ident in idents[row.profile_id]:
                self.owner[ident] = row.profile_id
                self.unowned.discard(ident)

    async def by_id(self, profile_id: str | None) -> Profile | None:
        """The live profile of an id (an alias answers with its survivor), locked."""
        for _ in range(8):
            pid = self.live(profile_id)
            if pid is None:
                return None
            await self.lock([pid])
            if pid in self.profiles:
                return self.profiles[pid]
            if pid not in self.alias:
                return None  # no such profile
            profile_id = pid
        return None

    async def hold_orders(self, order_ids: Collection[str]) -> None:
        missing = [o for o in order_ids if o not in self.orders]
        rows = await fact_repo.lock_orders(self.session, self.tenant_id, missing)
        for key, row in rows.items():
            fact = OrderFact.model_validate(row.fact) if row.fact else None
            self.orders[key] = Held(key, row.profile_id, fact)

    async def hold_subscriptions(self, contract_ids: Collection[str]) -> None:
        missing = [c for c in contract_ids if c not in self.subscriptions]
        rows = await fact_repo.lock_subscriptions(self.session, self.tenant_id, missing)
        for key, row in rows.items():
            fact = SubscriptionFact.model_validate(row.fact) if row.fact else None
            self.subscriptions[key] = Held(key, row.profile_id, fact)

    async def order(self, order_id: str) -> Held:
        await self.hold_orders([order_id])
        return self.orders[order_id]

    async def subscription(self, contract_id: str) -> Held:
        await self.hold_subscriptions([contract_id])
        return self.subscriptions[contract_id]

    def reset(self) -> None:
        """Forget everything held (after the tenant's data was erased)."""
        for held in (self.profiles, self.owner, self.alias, self.orders, self.subscriptions):
            held.clear()
        for pending in (self.unowned, self.claims, self.adopt, self.created_aliases):
            pending.clear()
        self.engagement.clear()
        self.timeline.clear()
        self.activity.clear()
        self.outgoing.clear()
