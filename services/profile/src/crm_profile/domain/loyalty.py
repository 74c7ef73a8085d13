"""Loyalty traits of the ``profile.changed`` snapshot (only for tenants with a programme).

* ``member_rank``: the rank held now (current rules, spend in the rank window up
  to now); ``member_rank_spend``: that window's net spend (a string, like money).
* ``member_rank_previous`` / ``member_rank_direction`` (``up`` or ``down``): of the
  latest rank change, kept until the next one (set by the profile service, which
  knows the snapshot before; a rank-up journey's entry condition reads them).
* ``points_balance``, ``points_pending``, ``points_expiring_soon``,
  ``points_next_expiry_at`` / ``points_next_expiry_points``: the ledger as of now
  (:mod:`crm_profile.domain.points`).

Segments select on them like any trait:
``{"trait": "member_rank", "op": "=", "value": "ゴールド"}``,
``{"trait": "points_expiring_soon", "op": ">", "value": 0}``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from crm_profile.domain.facts import OrderFact
from crm_profile.domain.loyalty_rules import Programme, rank_at
from crm_profile.domain.points import Ledger, PointsEntry, compute_ledger
from crm_profile.domain.purchases import placed

LOYALTY_TRAITS = (
    "member_rank",
    "member_rank_spend",
    "member_rank_previous",
    "member_rank_direction",
    "points_balance",
    "points_pending",
    "points_expiring_soon",
    "points_next_expiry_at",
    "points_next_expiry_points",
)


def member_rank(orders: Iterable[OrderFact], programme: Programme, now: datetime) -> Any:
    """(rank name or None, window spend) as of ``now`` by the current rules."""
    rules = programme.current
    rank, spend = rank_at(placed(orders), programme.currency, rules, now)
    return (rank.name if rank is not None else None), spend


def loyalty_traits(
    orders: Iterable[OrderFact],
    entries: Iterable[PointsEntry],
    programme: Programme,
    now: datetime,
) -> dict[str, Any]:
    facts = list(orders)
    rank, spend = member_rank(facts, programme, now)
    ledger = compute_ledger(facts, entries, programme, now)
    return {"member_rank": rank, "member_rank_spend": format(spend, "f")} | ledger_traits(ledger)


def ledger_traits(ledger: Ledger) -> dict[str, Any]:
    next_at = ledger.next_expiry_at
    return {
        "points_balance": ledger.balance,
        "points_pending": ledger.pending,
        "points_expiring_soon": ledger.expiring_soon,
        "points_next_expiry_at": next_at.isoformat().replace("+00:00", "Z") if next_at else None,
        "points_next_expiry_points": ledger.next_expiry_points,
    }
