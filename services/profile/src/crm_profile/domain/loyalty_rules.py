"""A tenant's loyalty programme: member ranks (会員ランク) and how points are earned.

Rules are versioned: each version is in effect from its ``effective_from``, and an
order earns points by the version in effect when it was placed (an order placed
before the first version earns nothing). Changing the rules therefore never
rewrites points already earned; the rank a person holds *now* is judged by the
current version.

Ranks: a person holds the highest rank whose ``min_spend`` (net spend in the tenant
currency over the last ``rank_window_days``) and ``min_orders`` they reach; none
when they reach no rank. An order earns ``floor(net × rate × multiplier)`` points,
``rate`` being the rank's ``points_rate`` as of just before the order (the
programme's ``base_rate`` without a rank) and ``multiplier`` the largest of the
campaigns running when it was placed (1 without one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import Field, model_validator

from crm_common.events import DecimalStr, Frozen, UtcDatetime
from crm_profile.domain.facts import OrderFact
from crm_profile.domain.purchases import details

RankName = str
_FIRST = datetime(2, 1, 2, tzinfo=UTC)
_LAST = datetime(9998, 12, 30, tzinfo=UTC)


class RankRule(Frozen):
    """One member rank, e.g. ``{"name": "ゴールド", "min_spend": "30000"}``."""

    name: RankName = Field(min_length=1, max_length=50)
    min_spend: DecimalStr = Field(default=Decimal(0), ge=0, le=Decimal(10**12))
    min_orders: int = Field(default=0, ge=0, le=1_000_000)
    points_rate: DecimalStr = Field(default=Decimal("0.01"), ge=0, le=1)


class Campaign(Frozen):
    """Orders placed in ``[starts_at, ends_at)`` earn ``multiplier`` times the points."""

    name: str = Field(min_length=1, max_length=100)
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    multiplier: DecimalStr = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> Campaign:
        if not self.starts_at < self.ends_at:
            raise ValueError("starts_at must be before ends_at")
        return self


class LoyaltyRules(Frozen):
    """One version of a tenant's programme (``PUT /v1/settings/loyalty``)."""

    ranks: tuple[RankRule, ...] = Field(default=(), max_length=20)
    rank_window_days: int = Field(default=365, ge=1, le=3660)
    base_rate: DecimalStr = Field(default=Decimal("0.01"), ge=0, le=1)
    campaigns: tuple[Campaign, ...] = Field(default=(), max_length=100)
    # Earned points stay pending until the order is fulfilled or this many days
    # after it was placed, whichever comes first.
    return_window_days: int = Field(default=14, ge=0, le=3660)
    expire_after_days: int | None = Field(default=365, ge=1, le=3660)  # None: never
    expiring_soon_days: int = Field(default=30, ge=1, le=3660)
    birthday_points: int = Field(default=0, ge=0, le=10**9)

    @model_validator(mode="after")
    def _ranks_distinct(self) -> LoyaltyRules:
        names = [r.name for r in self.ranks]
        if len(set(names)) != len(names):
            raise ValueError("rank names must be distinct")
        return self


class RulesVersion(Frozen):
    effective_from: UtcDatetime
    rules: LoyaltyRules


class Programme(Frozen):
    """Every version of a tenant's rules, oldest first, and the tenant currency."""

    currency: str = "JPY"
    versions: tuple[RulesVersion, ...] = Field(min_length=1)

    def at(self, when: datetime) -> LoyaltyRules | None:
        """The version in effect at ``when``; None before the programme began."""
        found = None
        for version in self.versions:
            if version.effective_from <= when:
                found = version.rules
        return found

    @property
    def current(self) -> LoyaltyRules:
        return self.versions[-1].rules


def shifted(at: datetime, by: timedelta) -> datetime:
    """``at + by``, held within the calendar events may carry (years 2 to 9998): an
    order stamped in year 9998 must not break the ledger of the person who placed it."""
    try:
        return min(max(at + by, _FIRST), _LAST)
    except OverflowError:
        return _LAST if by > timedelta(0) else _FIRST


def window_spend(
    bought: Sequence[OrderFact], currency: str, since: datetime, until: datetime
) -> tuple[Decimal, int]:
    """Net spend in ``currency`` and purchases placed in ``[since, until)``."""
    inside = [o for o in bought if since <= details(o).placed_at < until]
    spent = sum((o.net_total for o in inside if details(o).currency == currency), Decimal(0))
    return spent, len(inside)


def rank_of(spend: Decimal, orders: int, rules: LoyaltyRules) -> RankRule | None:
    """The highest rank reached (ranks are tried from the most demanding down)."""
    reached = [r for r in rules.ranks if spend >= r.min_spend and orders >= r.min_orders]
    return max(reached, key=lambda r: (r.min_spend, r.min_orders), default=None)


def rank_at(
    bought: Sequence[OrderFact], currency: str, rules: LoyaltyRules, when: datetime
) -> tuple[RankRule | None, Decimal]:
    """The rank held just before ``when`` and the window spend it was judged on."""
    since = shifted(when, -timedelta(days=rules.rank_window_days))
    spend, count = window_spend(bought, currency, since, when)
    return rank_of(spend, count, rules), spend


def multiplier_at(rules: LoyaltyRules, when: datetime) -> Decimal:
    running = [c.multiplier for c in rules.campaigns if c.starts_at <= when < c.ends_at]
    return max(running, default=Decimal(1))


def direction(rules: LoyaltyRules, before: str | None, after: str | None) -> Literal["up", "down"]:
    """``up`` or ``down`` by the ranks' order in ``rules`` (no rank is the lowest)."""
    order = {r.name: (r.min_spend, r.min_orders) for r in rules.ranks}
    low = (Decimal(-1), -1)
    return "up" if order.get(after or "", low) > order.get(before or "", low) else "down"
