"""Installable journey templates: a definition to copy into a tenant and adjust."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from crm_common.events.customers import Channel
from crm_messaging.domain.journeys.models import (
    BranchStep,
    EngagementCondition,
    EventTrigger,
    EveryTime,
    ExitStep,
    JourneyDefinition,
    Once,
    OncePer,
    PurchaseGoal,
    SegmentEnteredTrigger,
    SendAlternative,
    SendStep,
    Step,
    TraitCondition,
    WaitDuration,
    WaitSinceEntry,
    WaitStep,
)


def abandoned_checkout(
    journey_id: str = "abandoned_checkout",
    template_id: str = "abandoned_checkout_email",
    wait: timedelta = timedelta(hours=3),
) -> JourneyDefinition:
    """``checkout.started`` -> wait -> recovery email (``recovery_url`` is in the run
    context); the run ends as soon as an order carries the checkout or cart token."""
    return JourneyDefinition(
        journey_id=journey_id,
        name="カゴ落ち (abandoned checkout)",
        trigger=EventTrigger(event_type="checkout.started", key_field="data.checkout_token"),
        re_entry=EveryTime(),
        goals=(PurchaseGoal(match="checkout"),),
        steps=(
            WaitStep(id="wait", wait=WaitDuration(duration=wait), next="email"),
            SendStep(id="email", channel=Channel.EMAIL, template_id=template_id, next=None),
        ),
    )


F2_DAYS = (("thanks", 1), ("how_to_use", 7), ("review", 21), ("coupon", 30))


def f2_step_mail(journey_id: str = "f2_step_mail", prefix: str = "f2_") -> JourneyDefinition:
    """Step mails after a first order: thank you, how to use, review request and a
    second-purchase coupon on days 1, 7, 21 and 30; a second order ends the run."""
    steps: list[Step] = []
    for index, (name, day) in enumerate(F2_DAYS):
        following = F2_DAYS[index + 1][0] if index + 1 < len(F2_DAYS) else None
        steps.append(
            WaitStep(
                id=f"wait_{name}",
                wait=WaitSinceEntry(duration=timedelta(days=day)),
                next=f"send_{name}",
            )
        )
        steps.append(
            SendStep(
                id=f"send_{name}",
                channel=Channel.EMAIL,
                template_id=f"{prefix}{name}",
                next=f"wait_{following}" if following else None,
            )
        )
    return JourneyDefinition(
        journey_id=journey_id,
        name="F2 step mail",
        trigger=EventTrigger(event_type="order.placed", key_field="data.order_id"),
        entry_condition=TraitCondition(trait="orders_count", op="eq", value=1),
        re_entry=Once(),
        goals=(PurchaseGoal(),),
        steps=tuple(steps),
    )


def _no_engagement_since(step_id: str, branch_id: str, on_silent: str) -> BranchStep:
    return BranchStep(
        id=branch_id,
        condition=EngagementCondition(
            events=frozenset({"opened", "clicked", "purchased"}), since_step=step_id
        ),
        then_step="engaged",
        else_step=on_silent,
    )


def winback_escalation(
    journey_id: str = "winback",
    segment_id: str = "dormant",
    prefix: str = "winback_",
    gap: timedelta = timedelta(days=7),
) -> JourneyDefinition:
    """休眠顧客: three emails ``gap`` apart; with no open, click or purchase since the
    first: LINE (else SMS), then a postal DM, then a call-list entry, each only if
    the previous one drew no reaction."""

    def wait(step_id: str, nxt: str, factor: int = 1) -> WaitStep:
        return WaitStep(id=step_id, wait=WaitDuration(duration=gap * factor), next=nxt)

    def send(step_id: str, channel: Channel, nxt: str | None, *alts: SendAlternative) -> SendStep:
        return SendStep(
            id=step_id,
            channel=channel,
            template_id=f"{prefix}{step_id}",
            alternatives=alts,
            next=nxt,
        )

    sms = SendAlternative(channel=Channel.SMS, template_id=f"{prefix}sms")
    steps: tuple[Step, ...] = (
        send("email_1", Channel.EMAIL, "wait_1"),
        wait("wait_1", "email_2"),
        send("email_2", Channel.EMAIL, "wait_2"),
        wait("wait_2", "email_3"),
        send("email_3", Channel.EMAIL, "wait_3"),
        wait("wait_3", "check_email"),
        _no_engagement_since("email_1", "check_email", "line"),
        send("line", Channel.LINE, "wait_line", sms),
        wait("wait_line", "check_line"),
        _no_engagement_since("line", "check_line", "dm"),
        send("dm", Channel.POSTAL_DM, "wait_dm"),
        wait("wait_dm", "check_dm", factor=3),
        _no_engagement_since("dm", "check_dm", "call"),
        send("call", Channel.CALL, None),
        ExitStep(id="engaged", reason="engaged"),
    )
    return JourneyDefinition(
        journey_id=journey_id,
        name="休眠顧客 win-back escalation",
        trigger=SegmentEnteredTrigger(segment_id=segment_id),
        re_entry=OncePer(days=180),
        goals=(PurchaseGoal(),),
        steps=steps,
    )


JOURNEY_TEMPLATES: dict[str, Callable[[], JourneyDefinition]] = {
    "abandoned_checkout": abandoned_checkout,
    "f2_step_mail": f2_step_mail,
    "winback_escalation": winback_escalation,
}
"""Template name -> builder with defaults (call the builder directly to adjust)."""
