"""Checks of a journey definition before it is saved or activated.

Every problem names the step it is about (``""`` for problems of the journey as
a whole), so an editor can put the message next to the step.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import NamedTuple

from crm_messaging.domain.clock import zone
from crm_messaging.domain.errors import UnknownTimezone
from crm_messaging.domain.journeys.models import (
    BranchStep,
    EngagementCondition,
    JourneyDefinition,
    ProductBoughtGoal,
    SendStep,
    Step,
    WaitDuration,
    WaitSinceEntry,
    WaitStep,
    successors,
)


class JourneyProblem(NamedTuple):
    step_id: str
    message: str


def validate_journey(defn: JourneyDefinition) -> list[JourneyProblem]:
    """All problems of ``defn``; an empty list means it can run."""
    problems = _journey_problems(defn)
    ids = {step.id for step in defn.steps}
    for step in defn.steps:
        problems += _step_problems(step, ids)
    if defn.start_step_id in ids:
        problems += _unreachable(defn)
    problems += _cycles_without_wait(defn)
    return problems


def _journey_problems(defn: JourneyDefinition) -> list[JourneyProblem]:
    problems: list[JourneyProblem] = []
    if not defn.steps:
        problems.append(JourneyProblem("", "journey has no steps"))
    elif defn.start_step_id not in {s.id for s in defn.steps}:
        problems.append(JourneyProblem("", f"unknown start step '{defn.start}'"))
    for step_id, count in Counter(s.id for s in defn.steps).items():
        if count > 1:
            problems.append(JourneyProblem(step_id, f"step id used {count} times"))
    try:
        zone(defn.timezone)
    except UnknownTimezone:
        problems.append(JourneyProblem("", f"unknown timezone '{defn.timezone}'"))
    for goal in defn.goals:
        if isinstance(goal, ProductBoughtGoal) and not goal.product_ids:
            problems.append(JourneyProblem("", "product goal names no product"))
    return problems


def _step_problems(step: Step, ids: set[str]) -> list[JourneyProblem]:
    problems = [
        JourneyProblem(step.id, f"unknown next step '{target}'")
        for target in successors(step)
        if target not in ids
    ]
    if isinstance(step, SendStep):
        problems += _send_problems(step)
    elif isinstance(step, WaitStep) and not _positive_wait(step):
        problems.append(JourneyProblem(step.id, "wait duration must be positive"))
    elif isinstance(step, BranchStep):
        problems += _branch_problems(step, ids)
    return problems


def _positive_wait(step: WaitStep) -> bool:
    if isinstance(step.wait, WaitDuration | WaitSinceEntry):
        return step.wait.duration > timedelta(0)
    return True


def _send_problems(step: SendStep) -> list[JourneyProblem]:
    problems: list[JourneyProblem] = []
    if not step.template_id:
        problems.append(JourneyProblem(step.id, "send step has no template"))
    channels = [step.channel, *(alt.channel for alt in step.alternatives)]
    if len(set(channels)) != len(channels):
        problems.append(JourneyProblem(step.id, "a channel appears twice among alternatives"))
    return problems


def _branch_problems(step: BranchStep, ids: set[str]) -> list[JourneyProblem]:
    problems: list[JourneyProblem] = []
    condition = step.condition
    if isinstance(condition, EngagementCondition) and condition.since_step not in ids:
        problems.append(
            JourneyProblem(step.id, f"condition refers to unknown step '{condition.since_step}'")
        )
    if step.then_step is None and step.else_step is None:
        problems.append(JourneyProblem(step.id, "branch leads nowhere on both sides"))
    return problems


def _reachable(defn: JourneyDefinition, start: str, through: set[str]) -> set[str]:
    """Step ids reachable from ``start`` in one or more moves, moving only via ``through``."""
    by_id = {s.id: s for s in defn.steps}
    seen: set[str] = set()
    frontier = [start]
    while frontier:
        current = by_id.get(frontier.pop())
        if current is None:
            continue
        for target in successors(current):
            if target not in seen and target in by_id:
                seen.add(target)
                if target in through:
                    frontier.append(target)
    return seen


def _unreachable(defn: JourneyDefinition) -> list[JourneyProblem]:
    start = defn.start_step_id
    assert start is not None
    everything = {s.id for s in defn.steps}
    reached = _reachable(defn, start, everything) | {start}
    return [JourneyProblem(s.id, "step is unreachable") for s in defn.steps if s.id not in reached]


def _cycles_without_wait(defn: JourneyDefinition) -> list[JourneyProblem]:
    # A loop through sends and branches with no wait would spin (and send) without end.
    instant = {s.id for s in defn.steps if not isinstance(s, WaitStep)}
    reach = {step_id: _reachable(defn, step_id, instant) & instant for step_id in instant}
    problems: list[JourneyProblem] = []
    reported: set[str] = set()
    for step in defn.steps:
        if step.id not in instant or step.id in reported or step.id not in reach[step.id]:
            continue
        members = [s.id for s in defn.steps if s.id in reach[step.id] and step.id in reach[s.id]]
        reported.update(members)
        problems.append(JourneyProblem(step.id, f"cycle without a wait: {' -> '.join(members)}"))
    return problems
