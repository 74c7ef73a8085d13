"""The chronological part of the points ledger: lots credited, debited and expired.

:func:`simulate` replays the moves of :mod:`crm_profile.domain.points` in time order
(credits, then debits, then expiries at one instant, so a point can be used on its
last day): a debit takes from its own lot first, then from the lots that expire
first, and what is left is a debt the next credit repays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from crm_common.events import Frozen, UtcDatetime
from crm_profile.domain.loyalty_rules import LoyaltyRules, shifted

EntryKind = Literal["grant", "use", "adjust", "birthday"]
LineKind = Literal["earn", "reverse", "grant", "use", "return", "adjust", "birthday", "expire"]
_FAR = timedelta(days=3660 * 3)


class PointsEntry(Frozen):
    """A ledger entry written through the API (or the birthday sweep)."""

    key: str = Field(min_length=1, max_length=200)
    kind: EntryKind
    points: int  # > 0 for grant, use and birthday; signed for adjust
    at: UtcDatetime
    expires_at: UtcDatetime | None = None  # grants: None means by the rules
    reason: str | None = Field(default=None, max_length=500)
    order_id: str | None = Field(default=None, max_length=200)


class LedgerLine(Frozen):
    at: UtcDatetime
    kind: LineKind
    points: int  # signed: what it adds to (or takes from) the person's points
    pending: bool = False
    order_id: str | None = None
    key: str | None = None
    reason: str | None = None
    expires_at: UtcDatetime | None = None


class Ledger(Frozen):
    balance: int = 0
    pending: int = 0
    expiring_soon: int = 0  # of the balance, expiring within ``expiring_soon_days``
    next_expiry_at: UtcDatetime | None = None
    next_expiry_points: int = 0
    credited: int = 0
    debited: int = 0
    expired: int = 0
    lines: tuple[LedgerLine, ...] = ()  # oldest first


@dataclass
class Lot:
    ident: str
    available_at: datetime
    expires_at: datetime | None
    amount: int
    remaining: int = 0


@dataclass
class Move:
    at: datetime
    phase: int  # 0 credit, 1 debit, 2 expiry: a point can be used on its last day
    ident: str  # the lot (credits, expiries, reversals) or "" (untargeted debits)
    points: int


def line(
    at: datetime,
    kind: LineKind,
    points: int,
    pending: bool,
    order_id: str | None,
    expires_at: datetime | None,
) -> LedgerLine:
    return LedgerLine(
        at=at, kind=kind, points=points, pending=pending, order_id=order_id, expires_at=expires_at
    )


def simulate(
    lots: dict[str, Lot],
    moves: list[Move],
    lines: list[LedgerLine],
    pending: int,
    rules: LoyaltyRules,
    now: datetime,
) -> Ledger:
    """Replay ``moves`` (expiries of ``lots`` due by ``now`` added) into the ledger."""
    for lot in lots.values():
        if lot.expires_at is not None and lot.expires_at <= now:
            moves.append(Move(lot.expires_at, 2, lot.ident, 0))
    debt = credited = debited = expired = 0
    for move in sorted(moves, key=lambda m: (m.at, m.phase, m.ident)):
        if move.phase == 0:
            credited += move.points
            lot = lots[move.ident]
            lot.remaining = move.points
            paid = min(debt, lot.remaining)
            lot.remaining -= paid
            debt -= paid
        elif move.phase == 1:
            debited += move.points
            debt += _take(lots, move, now)
        else:
            lot = lots[move.ident]
            if lot.remaining:
                expired += lot.remaining
                lines.append(line(move.at, "expire", -lot.remaining, False, None, None))
                lot.remaining = 0
    return _result(lots, lines, pending, rules, now, (credited, debited, expired, debt))


def _take(lots: dict[str, Lot], move: Move, now: datetime) -> int:
    """Take a debit from its own lot, then from the lots expiring first; returns the rest."""
    left = move.points
    order = sorted(
        (lot for lot in lots.values() if lot.remaining > 0 and lot.available_at <= move.at),
        key=lambda lot: (lot.ident != move.ident, lot.expires_at or shifted(now, _FAR), lot.ident),
    )
    for lot in order:
        taken = min(left, lot.remaining)
        lot.remaining -= taken
        left -= taken
        if left == 0:
            break
    return left


def _result(
    lots: dict[str, Lot],
    lines: list[LedgerLine],
    pending: int,
    rules: LoyaltyRules,
    now: datetime,
    totals: tuple[int, int, int, int],
) -> Ledger:
    credited, debited, expired, debt = totals
    live = [lot for lot in lots.values() if lot.remaining > 0 and lot.expires_at is not None]
    soon = shifted(now, timedelta(days=rules.expiring_soon_days))
    next_at = min((lot.expires_at for lot in live if lot.expires_at), default=None)
    return Ledger(
        balance=sum(lot.remaining for lot in lots.values()) - debt,
        pending=pending,
        expiring_soon=sum(
            lot.remaining for lot in live if lot.expires_at and lot.expires_at <= soon
        ),
        next_expiry_at=next_at,
        next_expiry_points=sum(lot.remaining for lot in live if lot.expires_at == next_at),
        credited=credited,
        debited=debited,
        expired=expired,
        lines=tuple(
            sorted(lines, key=lambda ln: (ln.at, ln.kind, ln.order_id or "", ln.key or ""))
        ),
    )


def _before(at: datetime | None, limit: datetime) -> bool:
    return at is not None and at <= limit


def _line_key(ln: LedgerLine) -> tuple[datetime, str, str, str]:
    return (ln.at, ln.kind, ln.order_id or "", ln.key or "")
