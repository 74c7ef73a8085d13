"""``next_action``: what a journey run should do now. Pure: the caller performs the
action, updates the run state and calls again."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_messaging.domain.clock import as_utc
from crm_messaging.domain.errors import JourneyStateError
from crm_messaging.domain.journeys.models import (
    BranchStep,
    Condition,
    EngagementCondition,
    ExitStep,
    Goal,
    JourneyDefinition,
    ProductBoughtGoal,
    PurchaseGoal,
    SegmentCondition,
    SegmentGoal,
    SendStep,
    TraitCondition,
    UpdateProfileStep,
    WaitDateTrait,
    WaitStep,
)
from crm_messaging.domain.journeys.state import (
    Action,
    ExitRun,
    Facts,
    GoReason,
    GoTo,
    OrderFact,
    RunState,
    SendMessage,
    UpdateProfile,
    WaitUntil,
)
from crm_messaging.domain.journeys.waits import trait_value, wait_until


def next_action(defn: JourneyDefinition, run: RunState, facts: Facts, now: datetime) -> Action:
    """The action for ``run`` at ``now``. Goals are checked first, at every step."""
    now = as_utc(now)
    for goal in defn.goals:
        if goal_reached(goal, run, facts):
            return ExitRun(f"goal:{goal.kind}")
    if run.current_step_id is None:
        return ExitRun("completed")
    step = defn.step(run.current_step_id)
    if step is None:
        raise JourneyStateError(f"run {run.run_id} is at unknown step {run.current_step_id!r}")
    match step:
        case WaitStep():
            return _wait(step, defn, run, facts, now)
        case SendStep():
            return _send(step, facts)
        case BranchStep():
            taken = evaluate(step.condition, run, facts)
            target = step.then_step if taken else step.else_step
            return _go(target, "branch_then" if taken else "branch_else")
        case UpdateProfileStep():
            return UpdateProfile(step.id, step.property, step.value, step.next)
        case ExitStep():
            return ExitRun(step.reason)


def _go(target: str | None, reason: GoReason) -> Action:
    return ExitRun("completed") if target is None else GoTo(target, reason)


def _wait(
    step: WaitStep, defn: JourneyDefinition, run: RunState, facts: Facts, now: datetime
) -> Action:
    until = wait_until(step.wait, run, facts, defn.timezone)
    if until is None:
        assert isinstance(step.wait, WaitDateTrait)
        return ExitRun(f"missing_trait:{step.wait.trait}")
    if now >= until:
        return _go(step.next, "wait_elapsed")
    return WaitUntil(until)


def _send(step: SendStep, facts: Facts) -> SendMessage:
    assert step.template_id is not None, "validate_journey rejects a send without template"
    choice = (step.channel, step.template_id)
    reachable = facts.reachable_channels
    if reachable is not None and step.channel not in reachable:
        # Fall back only to a channel known to work; otherwise keep the primary so
        # the guardrails record why it was skipped.
        for alt in step.alternatives:
            if alt.channel in reachable:
                choice = (alt.channel, alt.template_id)
                break
    return SendMessage(step.id, choice[0], choice[1], step.purpose, step.next)


def _orders_after(facts: Facts, run: RunState) -> list[OrderFact]:
    trigger_order = run.context.get("order_id")
    return [
        order
        for order in facts.orders
        if order.placed_at > run.entered_at and order.order_id != trigger_order
    ]


def _completes_checkout(order: OrderFact, run: RunState) -> bool:
    checkout, cart = run.context.get("checkout_token"), run.context.get("cart_token")
    return (checkout is not None and order.checkout_token == checkout) or (
        cart is not None and order.cart_token == cart
    )


def goal_reached(goal: Goal, run: RunState, facts: Facts) -> bool:
    """Whether ``goal`` is met. A checkout-matched purchase counts whenever it was
    placed: the order may arrive before the checkout event that started the run."""
    match goal:
        case PurchaseGoal(match="checkout"):
            return any(_completes_checkout(order, run) for order in facts.orders)
        case PurchaseGoal():
            return bool(_orders_after(facts, run))
        case ProductBoughtGoal():
            return any(order.product_ids & goal.product_ids for order in _orders_after(facts, run))
        case SegmentGoal():
            return goal.segment_id in facts.segments
    return False  # pragma: no cover


def evaluate(condition: Condition, run: RunState, facts: Facts) -> bool:
    """Whether a branch condition holds for the run now."""
    match condition:
        case TraitCondition():
            return _compare(trait_value(facts.traits, condition.trait), condition)
        case SegmentCondition():
            return condition.segment_id in facts.segments
        case EngagementCondition():
            return _engaged_since(condition, run, facts)
    return False  # pragma: no cover


def _engaged_since(condition: EngagementCondition, run: RunState, facts: Facts) -> bool:
    since = run.visited.get(condition.since_step)
    if since is None:
        return False
    if "purchased" in condition.events and any(o.placed_at >= since for o in facts.orders):
        return True
    return any(e.kind in condition.events and e.at >= since for e in facts.engagements)


def _compare(actual: Any, condition: TraitCondition) -> bool:
    expected = condition.value
    try:
        match condition.op:
            case "exists":
                return actual is not None
            case "not_exists":
                return actual is None
            case "eq":
                return bool(actual == expected)
            case "ne":
                return bool(actual != expected)
            case "in":
                return actual in (expected or ())
            case "gt":
                return actual is not None and bool(actual > expected)
            case "gte":
                return actual is not None and bool(actual >= expected)
            case "lt":
                return actual is not None and bool(actual < expected)
            case "lte":
                return actual is not None and bool(actual <= expected)
    except TypeError:
        # A trait of another type than the condition expects (text vs number) is a mismatch.
        return False
    return False  # pragma: no cover
