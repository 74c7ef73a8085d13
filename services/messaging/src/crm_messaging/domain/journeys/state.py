"""What a running journey knows: its own state, the facts about the person, and
the actions the interpreter can ask for."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from crm_common.events import Frozen, UtcDatetime
from crm_common.events.customers import Channel
from crm_messaging.domain.policy import Purpose


class RunState(Frozen):
    """One person's run. ``visited``: when the run last reached each step (for
    "opened since step X"); ``context``: values from the trigger (``order_id``,
    ``checkout_token``, ``cart_token``, ``recovery_url`` ...)."""

    run_id: str
    profile_id: str
    entered_at: UtcDatetime
    current_step_id: str | None
    step_entered_at: UtcDatetime
    visited: dict[str, UtcDatetime] = Field(default_factory=dict)
    context: dict[str, str] = Field(default_factory=dict)


class EngagementFact(Frozen):
    kind: Literal["opened", "clicked"]
    at: UtcDatetime
    message_id: str | None = None


class OrderFact(Frozen):
    order_id: str
    placed_at: UtcDatetime
    product_ids: frozenset[str] = frozenset()
    checkout_token: str | None = None
    cart_token: str | None = None


class Facts(Frozen):
    """The person now. ``reachable_channels``: channels with consent and an address
    (None when unknown, then the primary channel of a send step is used)."""

    traits: dict[str, Any] = Field(default_factory=dict)
    segments: frozenset[str] = frozenset()
    engagements: tuple[EngagementFact, ...] = ()
    orders: tuple[OrderFact, ...] = ()
    reachable_channels: frozenset[Channel] | None = None


@dataclass(frozen=True)
class WaitUntil:
    until: datetime  # UTC


@dataclass(frozen=True)
class SendMessage:
    step_id: str
    channel: Channel
    template_id: str
    purpose: Purpose
    next_step_id: str | None


GoReason = Literal["wait_elapsed", "branch_then", "branch_else"]


@dataclass(frozen=True)
class GoTo:
    step_id: str
    reason: GoReason


@dataclass(frozen=True)
class UpdateProfile:
    step_id: str
    property: str
    value: str | int | bool | None
    next_step_id: str | None


@dataclass(frozen=True)
class ExitRun:
    reason: str  # "completed", "goal:purchase", "missing_trait:birthday", an exit step's reason


Action = WaitUntil | SendMessage | GoTo | UpdateProfile | ExitRun
