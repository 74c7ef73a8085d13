"""The points ledger is exact: random orders, cancellations, refunds, uses and expiries,
applied in any order and repeated, give the balance a direct calculation gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from crm_common.events import Money
from crm_common.events.commerce import (
    OrderCancelled,
    OrderData,
    OrderFulfilled,
    OrderPlaced,
    OrderRefunded,
    RefundData,
)
from crm_profile.domain.facts import OrderFact, apply_order_event
from crm_profile.domain.loyalty import loyalty_traits
from crm_profile.domain.loyalty_rules import (
    Campaign,
    LoyaltyRules,
    Programme,
    RankRule,
    RulesVersion,
)
from crm_profile.domain.points import PointsEntry, compute_ledger, earn_points

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return T0 + timedelta(days=n)


@dataclass
class OrderSpec:
    order_id: str
    total: int
    placed: float
    fulfilled: float | None = None  # days after placement
    cancelled: float | None = None  # days after placement
    refunds: list[tuple[int, float]] = field(default_factory=list)  # (amount, days after)

    def net(self) -> Decimal:
        if self.cancelled is not None:
            return Decimal(0)
        return max(Decimal(self.total - sum(a for a, _ in self.refunds)), Decimal(0))

    def available_at(self, window: int) -> datetime:
        end = day(self.placed + window)
        return min(end, day(self.placed + self.fulfilled)) if self.fulfilled else end


def _data(spec: OrderSpec, **extra: Any) -> OrderData:
    return OrderData(
        order_id=spec.order_id,
        placed_at=day(spec.placed),
        currency="JPY",
        total=Decimal(spec.total),
        **extra,
    )


def _envelope(event_id: str, at: datetime) -> dict[str, Any]:
    return {"event_id": event_id, "tenant_id": "t1", "source": "test", "occurred_at": at,
            "received_at": at}  # fmt: skip


def events_of(spec: OrderSpec) -> list[Any]:
    placed_at = day(spec.placed)
    out: list[Any] = [OrderPlaced(**_envelope(f"p-{spec.order_id}", placed_at), data=_data(spec))]
    if spec.fulfilled is not None:
        at = day(spec.placed + spec.fulfilled)
        data = _data(spec, updated_at=at, fulfillment_status="fulfilled")
        out.append(OrderFulfilled(**_envelope(f"f-{spec.order_id}", at), data=data))
    if spec.cancelled is not None:
        at = day(spec.placed + spec.cancelled)
        data = _data(spec, cancelled_at=at)
        out.append(OrderCancelled(**_envelope(f"c-{spec.order_id}", placed_at), data=data))
    for n, (amount, after) in enumerate(spec.refunds):
        at = day(spec.placed + after)
        refund = RefundData(
            refund_id=f"r{n}",
            order_id=spec.order_id,
            refunded_at=at,
            amount=Money(amount=Decimal(amount), currency="JPY"),
        )
        out.append(OrderRefunded(**_envelope(f"r-{spec.order_id}-{n}", at), data=refund))
    return out


def fold(events: list[Any]) -> list[OrderFact]:
    facts: dict[str, OrderFact] = {}
    for event in events:
        facts[event.data.order_id] = apply_order_event(facts.get(event.data.order_id), event)
    return list(facts.values())


def programme(rules: LoyaltyRules, since: float = -1000) -> Programme:
    return Programme(
        currency="JPY", versions=(RulesVersion(effective_from=day(since), rules=rules),)
    )


order_specs = st.builds(
    OrderSpec,
    order_id=st.sampled_from([f"o{i}" for i in range(8)]),
    total=st.integers(0, 60_000),
    placed=st.integers(0, 400),
    fulfilled=st.none() | st.floats(0.1, 30),
    cancelled=st.none() | st.floats(0, 60),
    refunds=st.lists(st.tuples(st.integers(1, 20_000), st.floats(0, 60)), max_size=3),
)
entry_specs = st.lists(
    st.tuples(
        st.sampled_from(["grant", "use", "adjust"]),
        st.integers(1, 3000),
        st.integers(0, 500),
        st.none() | st.sampled_from([f"o{i}" for i in range(8)]),  # a use paying an order
    ),
    max_size=6,
)


def entries_of(specs: list[tuple[str, int, int, str | None]]) -> list[PointsEntry]:
    out = []
    for n, (kind, points, at, order_id) in enumerate(specs):
        signed = -points if kind == "adjust" and n % 2 else points
        paid = order_id if kind == "use" else None
        out.append(PointsEntry(key=f"k{n}", kind=kind, points=signed, at=day(at), order_id=paid))
    return out


def returned(entries: list[PointsEntry], specs: list[OrderSpec], now: datetime) -> int:
    """Points of uses paying an order that was cancelled, back by ``now``."""
    cancelled = {s.order_id: day(s.placed + s.cancelled) for s in specs if s.cancelled is not None}
    return sum(
        e.points
        for e in entries
        if e.order_id in cancelled and max(cancelled[e.order_id], e.at) <= now
    )


@settings(max_examples=300, deadline=None)
@given(
    st.lists(order_specs, max_size=6, unique_by=lambda s: s.order_id),
    entry_specs,
    st.integers(0, 800),
    st.none() | st.integers(1, 400),
    st.sampled_from(["0.01", "0.05", "0.1"]),
    st.randoms(use_true_random=False),
)
def test_the_balance_is_exact_whatever_the_order_of_events(
    specs: list[OrderSpec],
    entry_list: list[tuple[str, int, int, str | None]],
    now_day: int,
    expiry: int | None,
    rate: str,
    rnd: Any,
) -> None:
    rules = LoyaltyRules(base_rate=Decimal(rate), return_window_days=14, expire_after_days=expiry)
    events = [e for s in specs for e in events_of(s)]
    entries = entries_of(entry_list)
    now = day(now_day)
    in_order = compute_ledger(fold(events), entries, programme(rules), now)
    shuffled = events + rnd.sample(events, len(events) // 2)  # repeated deliveries too
    rnd.shuffle(shuffled)
    assert compute_ledger(fold(shuffled), reversed(entries), programme(rules), now) == in_order

    # credited - debited - expired, exactly
    assert in_order.balance == in_order.credited - in_order.debited - in_order.expired
    # calculated directly: what each order finally earns, once available, and the entries
    available = [s for s in specs if s.available_at(14) <= now]
    earned = sum(earn_points(s.net(), Decimal(rate), Decimal(1)) for s in available)
    pending = sum(
        earn_points(s.net(), Decimal(rate), Decimal(1)) for s in specs if s not in available
    )
    signed = [e.points * (-1 if e.kind == "use" else 1) for e in entries]
    moved = sum(p for p, e in zip(signed, entries, strict=True) if p < 0 or e.at <= now)
    pending += sum(p for p, e in zip(signed, entries, strict=True) if p > 0 and e.at > now)
    moved += returned(entries, specs, now)
    assert in_order.pending == pending
    assert in_order.balance == earned + moved - in_order.expired
    if expiry is None:
        assert in_order.expired == 0
    never = rules.model_copy(update={"expire_after_days": None})
    assert compute_ledger(fold(events), entries, programme(never), now).balance == (
        in_order.balance + in_order.expired
    )
    assert 0 <= in_order.expiring_soon <= max(in_order.balance, 0) or in_order.balance < 0


def test_a_lot_expires_less_what_was_used_from_it() -> None:
    rules = LoyaltyRules(expire_after_days=30, expiring_soon_days=10)
    entries = [
        PointsEntry(key="g1", kind="grant", points=500, at=day(0)),
        PointsEntry(key="g2", kind="grant", points=300, at=day(20)),
        PointsEntry(key="u1", kind="use", points=200, at=day(5)),
    ]
    before = compute_ledger([], entries, programme(rules), day(25))
    assert (before.balance, before.expiring_soon, before.next_expiry_points) == (600, 300, 300)
    assert before.next_expiry_at == day(30)
    after = compute_ledger([], entries, programme(rules), day(31))
    assert (after.balance, after.expired) == (300, 300)
    assert after.lines[-1].kind == "expire" and after.lines[-1].points == -300


def test_a_refund_after_the_points_were_used_leaves_a_debt_the_next_points_repay() -> None:
    rules = LoyaltyRules(base_rate=Decimal("0.1"), return_window_days=0, expire_after_days=None)
    spec = OrderSpec("o1", 10_000, 0, refunds=[(10_000, 3)])
    entries = [
        PointsEntry(key="use", kind="use", points=1000, at=day(1)),
        PointsEntry(key="g", kind="grant", points=400, at=day(5)),
    ]
    ledger = compute_ledger(fold(events_of(spec)), entries, programme(rules), day(6))
    assert ledger.balance == 1000 - 1000 - 1000 + 400
    kinds = [(ln.kind, ln.points) for ln in ledger.lines]
    assert kinds == [("earn", 1000), ("use", -1000), ("reverse", -1000), ("grant", 400)]


def test_points_are_pending_until_fulfilment_or_the_return_window() -> None:
    rules = LoyaltyRules(base_rate=Decimal("0.01"), return_window_days=14)
    shipped = OrderSpec("o1", 5000, 0, fulfilled=3)
    waiting = OrderSpec("o2", 8000, 1)
    facts = fold(events_of(shipped) + events_of(waiting))
    at_5 = compute_ledger(facts, [], programme(rules), day(5))
    assert (at_5.balance, at_5.pending) == (50, 80)
    at_15 = compute_ledger(facts, [], programme(rules), day(15))
    assert (at_15.balance, at_15.pending) == (130, 0)
    cancelled = OrderSpec("o2", 8000, 1, cancelled=2)
    facts = fold(events_of(shipped) + events_of(cancelled))
    assert compute_ledger(facts, [], programme(rules), day(15)).balance == 50


def test_rank_rate_and_campaign_multiplier() -> None:
    rules = LoyaltyRules(
        base_rate=Decimal("0.01"),
        ranks=(
            RankRule(name="ブロンズ", min_spend=Decimal(0), points_rate=Decimal("0.01")),
            RankRule(name="ゴールド", min_spend=Decimal(30_000), points_rate=Decimal("0.03")),
        ),
        campaigns=(Campaign(name="x2", starts_at=day(50), ends_at=day(51), multiplier=Decimal(2)),),
        return_window_days=0,
    )
    specs = [OrderSpec("o1", 30_000, 0), OrderSpec("o2", 10_000, 10), OrderSpec("o3", 10_000, 50)]
    facts = fold([e for s in specs for e in events_of(s)])
    ledger = compute_ledger(facts, [], programme(rules), day(60))
    assert [ln.points for ln in ledger.lines] == [300, 300, 600]
    traits = loyalty_traits(facts, [], programme(rules), day(60))
    assert (traits["member_rank"], traits["member_rank_spend"]) == ("ゴールド", "50000")
    later = loyalty_traits(facts, [], programme(rules), day(366))
    assert later["member_rank"] == "ブロンズ"  # the first order left the 12-month window


def test_orders_before_the_programme_earn_nothing_and_rule_changes_keep_earned_points() -> None:
    old = LoyaltyRules(base_rate=Decimal("0.01"), return_window_days=0, expire_after_days=None)
    new = old.model_copy(update={"base_rate": Decimal("0.05")})
    versions = (
        RulesVersion(effective_from=day(10), rules=old),
        RulesVersion(effective_from=day(20), rules=new),
    )
    specs = [OrderSpec("o1", 1000, 5), OrderSpec("o2", 1000, 15), OrderSpec("o3", 1000, 25)]
    facts = fold([e for s in specs for e in events_of(s)])
    ledger = compute_ledger(facts, [], Programme(currency="JPY", versions=versions), day(30))
    assert ledger.balance == 0 + 10 + 50


def test_orders_at_the_ends_of_the_calendar_do_not_break_the_ledger() -> None:
    rules = LoyaltyRules(return_window_days=3660, expire_after_days=3660, rank_window_days=3660)
    late = OrderSpec("late", 1000, 0)
    facts = fold(events_of(late))
    far = [_placed_at(f, datetime(9998, 6, 1, tzinfo=UTC)) for f in facts]
    early = [_placed_at(f, datetime(3, 1, 1, tzinfo=UTC)) for f in facts]
    versions = (RulesVersion(effective_from=datetime(2, 6, 1, tzinfo=UTC), rules=rules),)
    programme_ = Programme(currency="JPY", versions=versions)
    assert compute_ledger(far, [], programme_, day(0)).pending == 10
    assert loyalty_traits(early, [], programme_, day(0))["points_balance"] == 0  # expired


def _placed_at(fact: OrderFact, when: datetime) -> OrderFact:
    assert fact.details is not None
    return fact.model_copy(update={"details": fact.details.model_copy(update={"placed_at": when})})


def test_loyalty_traits_travel_in_profile_changed_as_segment_stores_them() -> None:
    """Segment keeps ``traits.as_stored()`` of profile.changed and reads conditions
    (``{"trait": "member_rank", ...}``) from it: the loyalty traits must survive."""
    from crm_common.events import decode_event
    from crm_profile.handlers.wire import changed_row

    rules = LoyaltyRules(ranks=(RankRule(name="ゴールド", min_spend=Decimal(1000)),))
    facts = fold(events_of(OrderSpec("o1", 5000, 0)))
    traits = loyalty_traits(facts, [], programme(rules), day(30))
    row = changed_row("crm.profiles.v1", "t1", "p1", 3, day(30), {"orders_count": 1} | traits, {})
    stored = decode_event(row.payload).data.traits.as_stored()
    assert stored["member_rank"] == "ゴールド"
    assert stored["points_balance"] == 50
    assert stored["points_next_expiry_at"] == "2026-01-15T00:00:00Z"


def test_points_used_on_an_order_come_back_when_it_is_cancelled() -> None:
    rules = LoyaltyRules(base_rate=Decimal("0.1"), return_window_days=0, expire_after_days=100)
    paid_with_points = OrderSpec("o2", 3000, 5, cancelled=2)  # cancelled on day 7
    facts = fold(events_of(OrderSpec("o1", 10_000, 0)) + events_of(paid_with_points))
    use = PointsEntry(key="u", kind="use", points=600, at=day(5), order_id="o2")
    before = compute_ledger(facts, [use], programme(rules), day(6))
    assert before.balance == 1000 + 300 - 600 - 300  # the cancellation known, not yet due
    after = compute_ledger(facts, [use], programme(rules), day(8))
    assert after.balance == 1000
    assert [(ln.kind, ln.points) for ln in after.lines if ln.at == day(7)] == [
        ("return", 600),
        ("reverse", -300),  # what o2 itself earned
    ]
    assert after.next_expiry_at == day(100) and after.next_expiry_points == 400
    assert compute_ledger(facts, [use], programme(rules), day(104)).balance == 600  # o1 expired
    assert compute_ledger(facts, [use], programme(rules), day(108)).balance == 0
