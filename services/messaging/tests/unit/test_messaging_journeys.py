from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm_common.events.customers import Channel
from crm_messaging.domain.errors import JourneyStateError
from crm_messaging.domain.journeys import (
    JOURNEY_TEMPLATES,
    BranchStep,
    EngagementCondition,
    EngagementFact,
    EventTrigger,
    EveryTime,
    ExitRun,
    ExitStep,
    Facts,
    GoTo,
    JourneyDefinition,
    JourneyProblem,
    Once,
    OncePer,
    OrderFact,
    RunState,
    SegmentCondition,
    SegmentEnteredTrigger,
    SegmentGoal,
    SendMessage,
    SendStep,
    TraitCondition,
    UpdateProfile,
    UpdateProfileStep,
    WaitDateTrait,
    WaitDuration,
    WaitStep,
    WaitTimeOfDay,
    WaitUntil,
    abandoned_checkout,
    evaluate,
    f2_step_mail,
    next_action,
    reentry_allowed,
    run_key,
    validate_journey,
    winback_escalation,
)

TOKYO = ZoneInfo("Asia/Tokyo")
T0 = datetime(2024, 5, 1, 3, 0, tzinfo=UTC)  # 12:00 JST


def state(step: str | None, step_at: datetime = T0, **extra: Any) -> RunState:
    return RunState.model_validate(
        {
            "run_id": "r1",
            "profile_id": "p1",
            "entered_at": T0,
            "current_step_id": step,
            "step_entered_at": step_at,
            **extra,
        }
    )


def journey(*steps: Any, **extra: Any) -> JourneyDefinition:
    return JourneyDefinition.model_validate(
        {
            "journey_id": "j",
            "name": "j",
            "trigger": {"kind": "segment_entered", "segment_id": "s"},
            "steps": list(steps),
            **extra,
        }
    )


@pytest.mark.parametrize("name", sorted(JOURNEY_TEMPLATES))
def test_installable_templates_are_valid(name: str) -> None:
    assert validate_journey(JOURNEY_TEMPLATES[name]()) == []


def test_definition_parses_from_json_with_discriminators() -> None:
    defn = journey(
        {"kind": "wait", "id": "w", "wait": {"kind": "duration", "duration": "PT2H"}, "next": "x"},
        {"kind": "exit", "id": "x"},
        trigger={"kind": "event", "event_type": "order.placed", "key_field": "data.order_id"},
        re_entry={"kind": "once_per", "days": 30},
    )
    assert defn.steps[0] == WaitStep(
        id="w", wait=WaitDuration(duration=timedelta(hours=2)), next="x"
    )
    assert defn.trigger == EventTrigger(event_type="order.placed", key_field="data.order_id")
    assert defn.re_entry == OncePer(days=30)
    assert defn.start_step_id == "w"


def test_validation_names_the_step_of_every_problem() -> None:
    defn = journey(
        SendStep(id="a", channel=Channel.EMAIL, next="zzz"),
        SendStep(id="orphan", channel=Channel.SMS, template_id="t"),
        BranchStep(
            id="b",
            condition=EngagementCondition(events=frozenset({"opened"}), since_step="nope"),
            then_step="c",
            else_step="c",
        ),
        SendStep(id="c", channel=Channel.LINE, template_id="t", next="d"),
        UpdateProfileStep(id="d", property="x", value=1, next="c"),
        WaitStep(id="w", wait=WaitDuration(duration=timedelta(0)), next="a"),
        ExitStep(id="w"),
        start="b",
    )
    assert validate_journey(defn) == [
        JourneyProblem("w", "step id used 2 times"),
        JourneyProblem("a", "unknown next step 'zzz'"),
        JourneyProblem("a", "send step has no template"),
        JourneyProblem("b", "condition refers to unknown step 'nope'"),
        JourneyProblem("w", "wait duration must be positive"),
        JourneyProblem("a", "step is unreachable"),
        JourneyProblem("orphan", "step is unreachable"),
        JourneyProblem("w", "step is unreachable"),
        JourneyProblem("w", "step is unreachable"),
        JourneyProblem("c", "cycle without a wait: c -> d"),
    ]


def test_cycle_through_a_wait_is_fine_and_empty_journey_is_not() -> None:
    looping = journey(
        SendStep(id="s", channel=Channel.EMAIL, template_id="t", next="w"),
        WaitStep(id="w", wait=WaitDuration(duration=timedelta(days=1)), next="s"),
    )
    assert validate_journey(looping) == []
    assert validate_journey(journey()) == [JourneyProblem("", "journey has no steps")]
    assert validate_journey(journey(ExitStep(id="x"), start="y", timezone="Mars/Base")) == [
        JourneyProblem("", "unknown start step 'y'"),
        JourneyProblem("", "unknown timezone 'Mars/Base'"),
    ]


CHECKOUT = {"checkout_token": "ck1", "cart_token": "ca1", "recovery_url": "https://x.jp/r"}


@pytest.mark.parametrize(
    ("step", "now", "expected"),
    [
        ("wait", T0 + timedelta(hours=1), WaitUntil(T0 + timedelta(hours=3))),
        ("wait", T0 + timedelta(hours=3), GoTo("email", "wait_elapsed")),
        (
            "email",
            T0 + timedelta(hours=3),
            SendMessage("email", Channel.EMAIL, "abandoned_checkout_email", "marketing", None),
        ),
        (None, T0 + timedelta(hours=4), ExitRun("completed")),
    ],
)
def test_abandoned_checkout_run(step: str | None, now: datetime, expected: object) -> None:
    run = state(step, context=CHECKOUT)
    assert next_action(abandoned_checkout(), run, Facts(), now) == expected


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        (OrderFact(order_id="o1", placed_at=T0, checkout_token="ck1"), ExitRun("goal:purchase")),
        # the order may be seen before the checkout event: time does not matter here
        (
            OrderFact(order_id="o1", placed_at=T0 - timedelta(minutes=5), cart_token="ca1"),
            ExitRun("goal:purchase"),
        ),
        (
            OrderFact(order_id="o2", placed_at=T0 + timedelta(hours=1), checkout_token="other"),
            WaitUntil(T0 + timedelta(hours=3)),
        ),
    ],
)
def test_abandoned_checkout_exits_on_its_own_order_only(order: OrderFact, expected: object) -> None:
    run = state("wait", context=CHECKOUT)
    facts = Facts(orders=(order,))
    assert next_action(abandoned_checkout(), run, facts, T0 + timedelta(hours=1)) == expected


def test_f2_waits_are_counted_from_the_order() -> None:
    defn = f2_step_mail()
    assert [s.id for s in defn.steps] == [
        "wait_thanks", "send_thanks", "wait_how_to_use", "send_how_to_use",
        "wait_review", "send_review", "wait_coupon", "send_coupon",
    ]  # fmt: skip
    run = state("wait_how_to_use", T0 + timedelta(days=1, hours=9), context={"order_id": "o1"})
    first_order = OrderFact(order_id="o1", placed_at=T0)
    facts = Facts(orders=(first_order,))
    assert next_action(defn, run, facts, T0 + timedelta(days=2)) == WaitUntil(
        T0 + timedelta(days=7)
    )
    assert next_action(defn, state("send_coupon"), facts, T0) == SendMessage(
        "send_coupon", Channel.EMAIL, "f2_coupon", "marketing", None
    )
    second = OrderFact(order_id="o2", placed_at=T0 + timedelta(days=3))
    assert next_action(
        defn, run, Facts(orders=(first_order, second)), T0 + timedelta(days=3)
    ) == ExitRun("goal:purchase")


def test_f2_enters_on_first_order_only() -> None:
    defn = f2_step_mail()
    assert defn.entry_condition is not None
    assert evaluate(defn.entry_condition, state(None), Facts(traits={"orders_count": 1}))
    assert not evaluate(defn.entry_condition, state(None), Facts(traits={"orders_count": 2}))


def winback_run(step: str) -> RunState:
    return state(step, T0 + timedelta(days=21), visited={"email_1": T0, "line": T0})


def test_winback_escalates_without_engagement() -> None:
    defn = winback_escalation()
    now = T0 + timedelta(days=21)
    assert next_action(defn, winback_run("check_email"), Facts(), now) == GoTo(
        "line", "branch_else"
    )
    opened = Facts(engagements=(EngagementFact(kind="opened", at=T0 + timedelta(days=2)),))
    assert next_action(defn, winback_run("check_email"), opened, now) == GoTo(
        "engaged", "branch_then"
    )
    assert next_action(defn, winback_run("engaged"), Facts(), now) == ExitRun("engaged")
    stale = Facts(engagements=(EngagementFact(kind="clicked", at=T0 - timedelta(days=1)),))
    assert next_action(defn, winback_run("check_email"), stale, now) == GoTo("line", "branch_else")


@pytest.mark.parametrize(
    ("reachable", "channel", "template"),
    [
        (None, Channel.LINE, "winback_line"),
        (frozenset({Channel.LINE, Channel.SMS}), Channel.LINE, "winback_line"),
        (frozenset({Channel.SMS}), Channel.SMS, "winback_sms"),
        (frozenset({Channel.EMAIL}), Channel.LINE, "winback_line"),
    ],
)
def test_winback_line_falls_back_to_sms(
    reachable: frozenset[Channel] | None, channel: Channel, template: str
) -> None:
    facts = Facts(reachable_channels=reachable)
    action = next_action(winback_escalation(), winback_run("line"), facts, T0)
    assert action == SendMessage("line", channel, template, "marketing", "wait_line")


def test_winback_ends_with_call_list_entry() -> None:
    defn = winback_escalation()
    assert next_action(defn, winback_run("call"), Facts(), T0) == SendMessage(
        "call", Channel.CALL, "winback_call", "marketing", None
    )
    assert next_action(defn, winback_run("check_dm"), Facts(), T0) == GoTo("call", "branch_else")


def test_time_of_day_wait_on_weekday_in_tokyo() -> None:
    friday_evening = datetime(2024, 5, 3, 20, 0, tzinfo=TOKYO)
    defn = journey(
        WaitStep(id="w", wait=WaitTimeOfDay(at=time(10), weekdays=frozenset({0})), next="x"),
        ExitStep(id="x"),
    )
    monday = datetime(2024, 5, 6, 10, 0, tzinfo=TOKYO)
    assert next_action(defn, state("w", friday_evening), Facts(), friday_evening) == WaitUntil(
        monday
    )
    assert next_action(defn, state("w", friday_evening), Facts(), monday) == GoTo(
        "x", "wait_elapsed"
    )


def test_time_of_day_wait_in_new_york_skipped_hour() -> None:
    defn = journey(
        WaitStep(id="w", wait=WaitTimeOfDay(at=time(2, 30)), next=None),
        timezone="America/New_York",
    )
    entered = datetime(2024, 3, 10, 5, 0, tzinfo=UTC)  # 00:00 EST
    assert next_action(defn, state("w", entered), Facts(), entered) == WaitUntil(
        datetime(2024, 3, 10, 7, 0, tzinfo=UTC)  # 03:00 EDT
    )
    assert next_action(defn, state("w", entered), Facts(), entered + timedelta(hours=2)) == (
        ExitRun("completed")
    )


def test_birthday_wait_handles_leap_day_and_missing_trait() -> None:
    defn = journey(
        WaitStep(
            id="w",
            wait=WaitDateTrait(trait="birthday", offset_days=-3, at=time(9), yearly=True),
            next="x",
        ),
        ExitStep(id="x"),
    )
    entered = datetime(2025, 1, 10, tzinfo=TOKYO)
    facts = Facts(traits={"birthday": "1992-02-29"})
    assert next_action(defn, state("w", entered), facts, entered) == WaitUntil(
        datetime(2025, 2, 25, 9, 0, tzinfo=TOKYO)
    )
    late = datetime(2025, 3, 1, tzinfo=TOKYO)
    assert next_action(defn, state("w", late), facts, late) == WaitUntil(
        datetime(2026, 2, 25, 9, 0, tzinfo=TOKYO)
    )
    assert next_action(defn, state("w", entered), Facts(), entered) == ExitRun(
        "missing_trait:birthday"
    )


def test_update_profile_and_segment_goal_and_unknown_step() -> None:
    defn = journey(
        UpdateProfileStep(id="u", property="vip", value=True, next=None),
        goals=[SegmentGoal(segment_id="vip")],
    )
    assert next_action(defn, state("u"), Facts(), T0) == UpdateProfile("u", "vip", True, None)
    assert next_action(defn, state("u"), Facts(segments=frozenset({"vip"})), T0) == ExitRun(
        "goal:segment_entered"
    )
    with pytest.raises(JourneyStateError):
        next_action(defn, state("gone"), Facts(), T0)


@pytest.mark.parametrize(
    ("op", "value", "traits", "expected"),
    [
        ("eq", "gold", {"rank": "gold"}, True),
        ("ne", "gold", {"rank": "gold"}, False),
        ("gt", 2, {"orders": 3}, True),
        ("lte", 2, {"orders": 3}, False),
        ("gt", 2, {"orders": "many"}, False),
        ("gte", 2, {}, False),
        ("exists", None, {"rank": "gold"}, True),
        ("not_exists", None, {"rank": "gold"}, False),
        ("in", ["gold", "silver"], {"rank": "silver"}, True),
    ],
)
def test_trait_conditions(op: str, value: Any, traits: dict[str, Any], expected: bool) -> None:
    trait = "orders" if op in ("gt", "lte", "gte") else "rank"
    condition = TraitCondition.model_validate({"trait": trait, "op": op, "value": value})
    assert evaluate(condition, state(None), Facts(traits=traits)) is expected


def test_nested_trait_and_segment_condition() -> None:
    facts = Facts(traits={"address": {"prefecture": "東京都"}}, segments=frozenset({"s1"}))
    condition = TraitCondition(trait="address.prefecture", op="eq", value="東京都")
    assert evaluate(condition, state(None), facts)
    assert evaluate(SegmentCondition(segment_id="s1"), state(None), facts)
    assert not evaluate(SegmentCondition(segment_id="s2"), state(None), facts)


def test_reentry_rules() -> None:
    now = T0 + timedelta(days=30)
    assert reentry_allowed(Once(), [], now, active=False)
    assert not reentry_allowed(Once(), [T0], now, active=False)
    assert reentry_allowed(OncePer(days=30), [T0], now, active=False)
    assert not reentry_allowed(OncePer(days=31), [T0], now, active=False)
    assert not reentry_allowed(OncePer(days=1), [T0], now, active=True)
    assert reentry_allowed(EveryTime(), [T0], now, active=True)


def test_run_key_from_event_json() -> None:
    trigger = EventTrigger(event_type="checkout.started", key_field="data.checkout_token")
    assert run_key(trigger, {"data": {"checkout_token": "ck1"}}) == "ck1"
    assert run_key(trigger, {"data": {}}) is None
    assert run_key(SegmentEnteredTrigger(segment_id="s"), {"data": {}}) is None
