"""The points ledger, recomputed from facts as of ``now`` (never incremented).

Inputs are the person's order facts, the entries written through the API
(grants, uses, adjustments, birthday points) and the tenant's :class:`Programme`.
Because it is a pure function of those sets, arrival order and duplicates of the
events behind them cannot change it.

* **Earning.** An order earns by the rules in effect when it was placed
  (:mod:`crm_profile.domain.loyalty_rules`), on its total in the tenant currency.
  The points are *pending* until the order is fulfilled or the return window has
  passed since it was placed, whichever is first; then they are a *lot* that
  expires ``expire_after_days`` later.
* **Reversal.** A cancellation takes the order's points back; a refund takes back
  the difference its lower net total makes. While pending, that lowers what will
  become available; afterwards it is a debit from that order's lot first (points
  already used come out of the balance).
* **Using.** Uses and negative adjustments take from the lots that expire first.
  A debit larger than the lots leaves a negative balance (a debt), repaid by the
  next points credited: the ledger never loses a point to keep a balance positive.
* **Returns.** Points used on an order (``order_id`` of the use) come back when that
  order is cancelled, as a new lot.
* **Expiry.** At its expiry a lot's unused remainder expires.

So at any moment ``balance = credited - debited - expired`` exactly, and pending
points are not in the balance.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from crm_profile.domain.facts import OrderFact
from crm_profile.domain.loyalty_rules import (
    LoyaltyRules,
    Programme,
    multiplier_at,
    rank_at,
    shifted,
)
from crm_profile.domain.points_ledger import (
    EntryKind,
    Ledger,
    LedgerLine,
    LineKind,
    Lot,
    Move,
    PointsEntry,
    line,
    simulate,
)
from crm_profile.domain.purchases import placed

__all__ = [
    "EntryKind",
    "Ledger",
    "LedgerLine",
    "LineKind",
    "PointsEntry",
    "compute_ledger",
    "earn_points",
]


def earn_points(amount: Decimal, rate: Decimal, multiplier: Decimal) -> int:
    """``floor(amount × rate × multiplier)``, never negative."""
    return max(int((amount * rate * multiplier).to_integral_value(rounding=ROUND_FLOOR)), 0)


def compute_ledger(
    orders: Iterable[OrderFact],
    entries: Iterable[PointsEntry],
    programme: Programme,
    now: datetime,
) -> Ledger:
    """The person's points as of ``now`` (see the module docstring)."""
    facts = sorted(orders, key=lambda o: o.order_id)
    bought = placed(facts)
    lots: dict[str, Lot] = {}
    moves: list[Move] = []
    lines: list[LedgerLine] = []
    pending = 0
    for order in facts:
        pending += _order_lines(order, bought, programme, now, lots, moves, lines)
    cancelled = {o.order_id: o.cancellation.at for o in facts if o.cancellation is not None}
    for entry in sorted(entries, key=lambda e: (e.at, e.key)):
        pending += _entry_moves(entry, programme, now, lots, moves, lines)
        if entry.kind == "use" and entry.order_id in cancelled:
            _return_use(entry, cancelled[entry.order_id], programme, now, lots, moves, lines)
    return simulate(lots, moves, lines, pending, programme.current, now)


def _order_lines(
    order: OrderFact,
    bought: Sequence[OrderFact],
    programme: Programme,
    now: datetime,
    lots: dict[str, Lot],
    moves: list[Move],
    lines: list[LedgerLine],
) -> int:
    """Lines, lot and moves of one order; returns its pending points."""
    d = order.details
    rules = programme.at(d.placed_at) if d is not None else None
    if d is None or rules is None or d.currency != programme.currency:
        return 0
    rank, _ = rank_at(bought, programme.currency, rules, d.placed_at)
    rate = rank.points_rate if rank is not None else rules.base_rate
    mult = multiplier_at(rules, d.placed_at)
    gross = earn_points(d.total, rate, mult)
    available_at = _available_at(order, rules)
    expires_at = _expiry(available_at, rules)
    is_pending = available_at > now
    ident = f"order:{order.order_id}"
    lines.append(line(d.placed_at, "earn", gross, is_pending, order.order_id, expires_at))
    amount = gross
    for at, after in _reversals(order, rate, mult):
        delta = after - amount
        amount = after
        if delta == 0:
            continue
        lines.append(line(at, "reverse", delta, is_pending, order.order_id, None))
        if at > available_at and not is_pending:
            moves.append(Move(at, 1, ident, -delta))
    if is_pending:
        return amount
    credited = gross + sum(
        ln.points
        for ln in lines
        if ln.kind == "reverse" and ln.order_id == order.order_id and ln.at <= available_at
    )
    lots[ident] = Lot(ident, available_at, expires_at, credited)
    moves.append(Move(available_at, 0, ident, credited))
    return 0


def _available_at(order: OrderFact, rules: LoyaltyRules) -> datetime:
    d = order.details
    assert d is not None
    window_end = shifted(d.placed_at, timedelta(days=rules.return_window_days))
    if d.fulfillment_status == "fulfilled":
        return min(window_end, max(d.updated_at or d.placed_at, d.placed_at))
    return window_end


def _expiry(start: datetime, rules: LoyaltyRules) -> datetime | None:
    if rules.expire_after_days is None:
        return None
    return shifted(start, timedelta(days=rules.expire_after_days))


def _reversals(order: OrderFact, rate: Decimal, mult: Decimal) -> list[tuple[datetime, int]]:
    """(when, the order's points after it) for each refund and the cancellation."""
    d = order.details
    assert d is not None
    changes: list[tuple[datetime, str, Decimal | None]] = [
        (r.refunded_at, r.event_id, r.amount) for r in order.refunds if r.currency == d.currency
    ]
    if order.cancellation is not None:
        changes.append((order.cancellation.at, order.cancellation.event_id, None))
    out = []
    refunded = Decimal(0)
    cancelled = False
    for at, _, amount in sorted(changes, key=lambda c: (c[0], c[1])):
        if amount is None:
            cancelled = True
        else:
            refunded += amount
        net = Decimal(0) if cancelled else max(d.total - refunded, Decimal(0))
        out.append((at, earn_points(net, rate, mult)))
    return out


def _entry_moves(
    entry: PointsEntry,
    programme: Programme,
    now: datetime,
    lots: dict[str, Lot],
    moves: list[Move],
    lines: list[LedgerLine],
) -> int:
    """Line, lot and move of one entry; returns its pending points (a grant dated
    after ``now`` is pending until then, like an order's points)."""
    signed = -entry.points if entry.kind == "use" else entry.points
    ident = f"entry:{entry.key}"
    expires_at = None
    if signed > 0 and entry.at > now:
        expires_at = None
    elif signed > 0:
        rules = programme.at(entry.at) or programme.versions[0].rules
        expires_at = entry.expires_at or _expiry(entry.at, rules)
        lots[ident] = Lot(ident, entry.at, expires_at, signed)
        moves.append(Move(entry.at, 0, ident, signed))
    elif signed < 0:
        moves.append(Move(entry.at, 1, "", -signed))
    lines.append(
        LedgerLine(
            at=entry.at,
            kind=entry.kind,
            points=signed,
            order_id=entry.order_id,
            key=entry.key,
            reason=entry.reason,
            expires_at=expires_at,
            pending=signed > 0 and entry.at > now,
        )
    )
    return signed if signed > 0 and entry.at > now else 0


def _return_use(
    entry: PointsEntry,
    cancelled_at: datetime,
    programme: Programme,
    now: datetime,
    lots: dict[str, Lot],
    moves: list[Move],
    lines: list[LedgerLine],
) -> None:
    """Points used on an order that was then cancelled come back (a ``return`` lot,
    expiring by the rules from then), at the cancellation or the use, the later."""
    at = max(cancelled_at, entry.at)
    if at > now:
        return
    rules = programme.at(at) or programme.versions[0].rules
    ident = f"return:{entry.key}"
    lots[ident] = Lot(ident, at, _expiry(at, rules), entry.points)
    moves.append(Move(at, 0, ident, entry.points))
    lines.append(
        LedgerLine(
            at=at,
            kind="return",
            points=entry.points,
            order_id=entry.order_id,
            key=entry.key,
            expires_at=lots[ident].expires_at,
        )
    )
