"""Journey definitions: trigger, re-entry rule, steps and goals (pydantic v2).

Steps form a graph by id: ``next`` (``None`` ends the run as completed), and
``then_step``/``else_step`` on branches. ``start`` defaults to the first step.
"""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field

from crm_common.events import Frozen
from crm_common.events.customers import Channel
from crm_messaging.domain.policy import Purpose

__all__ = [
    "BranchStep",
    "Condition",
    "DateTraitTrigger",
    "EngagementCondition",
    "EventTrigger",
    "EveryTime",
    "ExitStep",
    "Goal",
    "JourneyDefinition",
    "Once",
    "OncePer",
    "ProductBoughtGoal",
    "PurchaseGoal",
    "ReEntry",
    "SegmentCondition",
    "SegmentEnteredTrigger",
    "SegmentGoal",
    "SendAlternative",
    "SendStep",
    "Step",
    "StepId",
    "TraitCondition",
    "Trigger",
    "UpdateProfileStep",
    "WaitDateTrait",
    "WaitDuration",
    "WaitSinceEntry",
    "WaitSpec",
    "WaitStep",
    "WaitTimeOfDay",
    "successors",
]

StepId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


# --- triggers -------------------------------------------------------------------------
class SegmentEnteredTrigger(Frozen):
    kind: Literal["segment_entered"] = "segment_entered"
    segment_id: str = Field(min_length=1)


class EventTrigger(Frozen):
    """A canonical event type; ``key_field`` (dotted path such as ``data.checkout_token``)
    names the value that identifies one run, so a redelivered or updated event
    does not start a second run for the same checkout or order."""

    kind: Literal["event"] = "event"
    event_type: str = Field(min_length=1)
    key_field: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$")


class DateTraitTrigger(Frozen):
    """A date trait such as ``birthday``: fires ``offset_days`` from it (yearly if set)."""

    kind: Literal["date_trait"] = "date_trait"
    trait: str = Field(min_length=1)
    offset_days: int = 0
    yearly: bool = True


Trigger = Annotated[
    SegmentEnteredTrigger | EventTrigger | DateTraitTrigger, Field(discriminator="kind")
]


# --- re-entry -------------------------------------------------------------------------
class Once(Frozen):
    kind: Literal["once"] = "once"


class OncePer(Frozen):
    kind: Literal["once_per"] = "once_per"
    days: int = Field(ge=1)


class EveryTime(Frozen):
    kind: Literal["every_time"] = "every_time"


ReEntry = Annotated[Once | OncePer | EveryTime, Field(discriminator="kind")]


# --- waits ----------------------------------------------------------------------------
class WaitDuration(Frozen):
    """``duration`` after the run reached the wait step."""

    kind: Literal["duration"] = "duration"
    duration: timedelta


class WaitSinceEntry(Frozen):
    """Until ``duration`` after the run started (day 7 after the order, whatever
    delays earlier steps had)."""

    kind: Literal["since_entry"] = "since_entry"
    duration: timedelta


class WaitTimeOfDay(Frozen):
    """The next ``at`` (tenant wall clock) on one of ``weekdays`` (0 = Monday; empty = any)."""

    kind: Literal["time_of_day"] = "time_of_day"
    at: time
    weekdays: frozenset[Annotated[int, Field(ge=0, le=6)]] = frozenset()


class WaitDateTrait(Frozen):
    """Until ``offset_days`` from a date trait, at ``at`` local time."""

    kind: Literal["date_trait"] = "date_trait"
    trait: str = Field(min_length=1)
    offset_days: int = 0
    at: time = time(9, 0)
    yearly: bool = False


WaitSpec = Annotated[
    WaitDuration | WaitSinceEntry | WaitTimeOfDay | WaitDateTrait, Field(discriminator="kind")
]


# --- conditions -----------------------------------------------------------------------
class TraitCondition(Frozen):
    kind: Literal["trait"] = "trait"
    trait: str = Field(min_length=1)
    op: Literal["eq", "ne", "gt", "gte", "lt", "lte", "exists", "not_exists", "in"]
    value: Any = None


class SegmentCondition(Frozen):
    kind: Literal["segment"] = "segment"
    segment_id: str = Field(min_length=1)


class EngagementCondition(Frozen):
    """Whether any of ``events`` happened since the run reached ``since_step``."""

    kind: Literal["engagement"] = "engagement"
    events: frozenset[Literal["opened", "clicked", "purchased"]] = Field(min_length=1)
    since_step: str


Condition = Annotated[
    TraitCondition | SegmentCondition | EngagementCondition, Field(discriminator="kind")
]


# --- steps ----------------------------------------------------------------------------
class WaitStep(Frozen):
    kind: Literal["wait"] = "wait"
    id: StepId
    wait: WaitSpec
    next: str | None = None


class SendAlternative(Frozen):
    channel: Channel
    template_id: str = Field(min_length=1)


class SendStep(Frozen):
    """Send on ``channel``; ``alternatives`` are tried in order when the person is not
    reachable on it (e.g. LINE, else SMS)."""

    kind: Literal["send"] = "send"
    id: StepId
    channel: Channel
    template_id: str | None = None
    purpose: Purpose = "marketing"
    alternatives: tuple[SendAlternative, ...] = ()
    next: str | None = None


class BranchStep(Frozen):
    kind: Literal["branch"] = "branch"
    id: StepId
    condition: Condition
    then_step: str | None = None
    else_step: str | None = None


class UpdateProfileStep(Frozen):
    kind: Literal["update_profile_property"] = "update_profile_property"
    id: StepId
    property: str = Field(min_length=1)
    value: str | int | bool | None
    next: str | None = None


class ExitStep(Frozen):
    kind: Literal["exit"] = "exit"
    id: StepId
    reason: str = "completed"


Step = Annotated[
    WaitStep | SendStep | BranchStep | UpdateProfileStep | ExitStep, Field(discriminator="kind")
]


# --- goals ----------------------------------------------------------------------------
class PurchaseGoal(Frozen):
    """Any order after entry; ``match="checkout"``: only an order carrying the run's
    checkout or cart token (the abandoned checkout was completed)."""

    kind: Literal["purchase"] = "purchase"
    match: Literal["any", "checkout"] = "any"


class ProductBoughtGoal(Frozen):
    kind: Literal["product_bought"] = "product_bought"
    product_ids: frozenset[str]


class SegmentGoal(Frozen):
    kind: Literal["segment_entered"] = "segment_entered"
    segment_id: str = Field(min_length=1)


Goal = Annotated[PurchaseGoal | ProductBoughtGoal | SegmentGoal, Field(discriminator="kind")]


class JourneyDefinition(Frozen):
    journey_id: str = Field(min_length=1)
    name: str
    timezone: str = "Asia/Tokyo"
    trigger: Trigger
    entry_condition: Condition | None = None
    re_entry: ReEntry = Field(default_factory=Once)
    steps: tuple[Step, ...]
    start: str | None = None
    goals: tuple[Goal, ...] = ()

    @property
    def start_step_id(self) -> str | None:
        if self.start is not None:
            return self.start
        return self.steps[0].id if self.steps else None

    def step(self, step_id: str) -> Step | None:
        return next((s for s in self.steps if s.id == step_id), None)


def successors(step: Step) -> list[str]:
    """Step ids a step can lead to (``None`` exits are left out)."""
    if isinstance(step, BranchStep):
        targets = [step.then_step, step.else_step]
    elif isinstance(step, ExitStep):
        targets = []
    else:
        targets = [step.next]
    return [t for t in targets if t is not None]
