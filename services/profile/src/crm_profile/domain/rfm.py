"""RFM scoring with per-tenant thresholds.

Each score is 1..5. Thresholds are four ascending cut points:

* recency (days since the last order): 5 when ``days <= recency_days[0]``,
  4 when ``<= [1]``, 3 when ``<= [2]``, 2 when ``<= [3]``, else 1.
  Defaults 30 / 60 / 90 / 180 days.
* frequency (non-cancelled orders): 1 + the number of cut points reached
  (``count >= cut``). Defaults 2 / 3 / 5 / 10 orders, so a one-time buyer is
  F1, 2 orders -> 2, 3-4 -> 3, 5-9 -> 4, 10+ -> 5 (only buyers are scored, so
  the first column of the R x F grid is the one-time buyers F2 mail targets).
* monetary (net spend in the tenant currency): 1 + the number of cut points
  reached. Defaults 5,000 / 10,000 / 30,000 / 100,000 JPY.

The rank is read from the sum R + F + M (3..15): A for 13-15, B for 10-12,
C for 7-9, D for 5-6, E for 3-4. A customer without any order has no scores
and no rank (their F-stage, ``F0``, already says it).
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from typing import Literal

from pydantic import Field, model_validator

from crm_common.events import DecimalStr, Frozen

RfmRank = Literal["A", "B", "C", "D", "E"]
_RANK_FLOORS: tuple[tuple[int, RfmRank], ...] = ((13, "A"), (10, "B"), (7, "C"), (5, "D"))


class RfmThresholds(Frozen):
    """Per-tenant RFM cut points (four ascending values each); defaults suit a JPY shop."""

    recency_days: tuple[int, int, int, int] = (30, 60, 90, 180)
    frequency_orders: tuple[int, int, int, int] = (2, 3, 5, 10)
    monetary: tuple[DecimalStr, DecimalStr, DecimalStr, DecimalStr] = (
        Decimal(5_000),
        Decimal(10_000),
        Decimal(30_000),
        Decimal(100_000),
    )
    currency: str = Field(default="JPY", pattern="^[A-Z]{3}$")

    @model_validator(mode="after")
    def _ascending(self) -> RfmThresholds:
        for name in ("recency_days", "frequency_orders", "monetary"):
            cuts = getattr(self, name)
            if any(a >= b for a, b in pairwise(cuts)):
                raise ValueError(f"{name} must be strictly ascending, got {cuts}")
        return self


class RfmScores(Frozen):
    recency: int = Field(ge=1, le=5)
    frequency: int = Field(ge=1, le=5)
    monetary: int = Field(ge=1, le=5)

    @property
    def rank(self) -> RfmRank:
        """A-E from the sum of the three scores (see the module docstring)."""
        total = self.recency + self.frequency + self.monetary
        return next((rank for floor, rank in _RANK_FLOORS if total >= floor), "E")


def recency_score(days: int, thresholds: RfmThresholds) -> int:
    """5 for a recent buyer down to 1 for one past the last cut point."""
    return 5 - sum(1 for cut in thresholds.recency_days if days > cut)


def frequency_score(orders: int, thresholds: RfmThresholds) -> int:
    """1 + how many frequency cut points ``orders`` reaches."""
    return 1 + sum(1 for cut in thresholds.frequency_orders if orders >= cut)


def monetary_score(spent: Decimal, thresholds: RfmThresholds) -> int:
    """1 + how many monetary cut points ``spent`` reaches."""
    return 1 + sum(1 for cut in thresholds.monetary if spent >= cut)


def score_rfm(
    days_since_last: int, orders: int, spent: Decimal, thresholds: RfmThresholds
) -> RfmScores:
    """The three scores of a customer who has ordered at least once."""
    return RfmScores(
        recency=recency_score(days_since_last, thresholds),
        frequency=frequency_score(orders, thresholds),
        monetary=monetary_score(spent, thresholds),
    )
