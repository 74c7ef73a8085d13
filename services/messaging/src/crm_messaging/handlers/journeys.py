"""Journey use cases: save (validated, versioned), lifecycle, templates, run lookups."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.domain.journeys import (
    JOURNEY_TEMPLATES,
    DateTraitTrigger,
    EventTrigger,
    JourneyDefinition,
    SegmentEnteredTrigger,
    validate_journey,
)
from crm_messaging.handlers.errors import Conflict, Invalid, NotFound
from crm_messaging.metrics_journeys import RUNS_FINISHED
from crm_messaging.repository import journey_runs as runs_repo
from crm_messaging.repository import journeys as repo

# Pydantic's loc carries the discriminator tag after a union member ("steps", 2,
# "send", "template_id"); editors want "steps[2].template_id".
_TAGGED = {"trigger", "re_entry", "wait", "condition", "entry_condition"}
_TAGS = frozenset(
    [
        "segment_entered",
        "event",
        "date_trait",
        "once",
        "once_per",
        "every_time",
        "duration",
        "since_entry",
        "time_of_day",
        "wait",
        "send",
        "branch",
        "update_profile_property",
        "exit",
        "trait",
        "segment",
        "engagement",
        "purchase",
        "product_bought",
    ]
)
_FIELD_OF = {
    "send step has no template": "template_id",
    "wait duration must be positive": "wait.duration",
    "a channel appears twice among alternatives": "alternatives",
}
TRANSITIONS: dict[str, tuple[set[str], str]] = {
    "start": ({"draft", "paused"}, "live"),
    "pause": ({"live"}, "paused"),
    "resume": ({"paused"}, "live"),
    "archive": ({"draft", "live", "paused"}, "archived"),
}


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    can_tag = False  # a tag follows a list index or a union-typed field, never another tag
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            can_tag = True
        elif can_tag and _is_tag(part):
            can_tag = False
        else:
            out += f".{part}" if out else str(part)
            can_tag = part in _TAGGED
    return out


def _is_tag(part: Any) -> bool:
    return isinstance(part, str) and part in _TAGS


def parse_definition(raw: Mapping[str, Any], journey_id: str, name: str) -> JourneyDefinition:
    """The definition, or Invalid whose details name the step (``steps[2].template_id``)."""
    body = {**raw, "journey_id": journey_id, "name": name}
    try:
        defn = JourneyDefinition.model_validate(body)
    except ValidationError as exc:
        details = [{"path": _path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise Invalid(
            f"definition: {details[0]['path']}: {details[0]['message']}", details
        ) from exc
    problems = validate_journey(defn)
    if problems:
        index = {step.id: i for i, step in enumerate(defn.steps)}
        details = [_problem_detail(p.step_id, p.message, index) for p in problems]
        raise Invalid(f"definition: {details[0]['path']}: {details[0]['message']}", details)
    return defn


def _problem_detail(step_id: str, message: str, index: dict[str, int]) -> dict[str, Any]:
    if step_id not in index:
        return {"path": "definition", "message": message, "step_id": step_id or None}
    path = f"steps[{index[step_id]}]"
    field = _FIELD_OF.get(message)
    return {"path": f"{path}.{field}" if field else path, "message": message, "step_id": step_id}


def trigger_of(defn: JourneyDefinition) -> tuple[str, str]:
    trigger = defn.trigger
    if isinstance(trigger, SegmentEnteredTrigger):
        return "segment_entered", trigger.segment_id
    if isinstance(trigger, EventTrigger):
        return "event", trigger.event_type
    assert isinstance(trigger, DateTraitTrigger)
    return "date_trait", trigger.trait


def _stored(defn: JourneyDefinition) -> dict[str, Any]:
    return defn.model_dump(mode="json")


async def existing(session: AsyncSession, tenant_id: str, journey_id: str) -> RowMapping:
    row = await repo.get(session, tenant_id, journey_id, lock=True)
    if row is None:
        raise NotFound(f"unknown journey {journey_id!r}")
    return row


async def create(
    session: AsyncSession,
    tenant_id: str,
    journey_id: str,
    name: str,
    raw: Mapping[str, Any],
    now: datetime,
) -> RowMapping:
    defn = parse_definition(raw, journey_id, name)
    created = await repo.insert_journey(
        session,
        tenant_id,
        journey_id,
        name=name,
        trigger=trigger_of(defn),
        definition=_stored(defn),
        now=now,
    )
    if not created:
        raise Conflict(f"journey {journey_id!r} exists already")
    return await existing(session, tenant_id, journey_id)


async def update(
    session: AsyncSession,
    tenant_id: str,
    journey_id: str,
    name: str | None,
    raw: Mapping[str, Any] | None,
    now: datetime,
) -> RowMapping:
    """A new version (runs already going keep theirs); archived journeys are frozen."""
    current = await existing(session, tenant_id, journey_id)
    if current["status"] == "archived":
        raise Conflict("an archived journey cannot be edited")
    new_name = name or current["name"]
    defn = parse_definition(raw if raw is not None else current["definition"], journey_id, new_name)
    await repo.add_version(
        session, current, name=new_name, trigger=trigger_of(defn), definition=_stored(defn), now=now
    )
    return await existing(session, tenant_id, journey_id)


async def transition(
    session: AsyncSession, tenant_id: str, journey_id: str, command: str, now: datetime
) -> RowMapping:
    current = await existing(session, tenant_id, journey_id)
    allowed, target = TRANSITIONS[command]
    if current["status"] not in allowed:
        raise Conflict(f"cannot {command} a journey that is {current['status']}")
    await repo.set_status(session, tenant_id, journey_id, target, now)
    if target == "archived":
        ended = await runs_repo.exit_active(session, tenant_id, journey_id, "archived", now)
        for run_id in ended:
            await runs_repo.add_history(
                session, run_id, tenant_id, [(None, "exited", {"reason": "archived"}, now)]
            )
        RUNS_FINISHED.labels("exited").inc(len(ended))
    return await existing(session, tenant_id, journey_id)


def template_definitions() -> list[dict[str, Any]]:
    return [
        {"key": key, "name": build().name, "definition": _stored(build())}
        for key, build in JOURNEY_TEMPLATES.items()
    ]


def installed_definition(
    key: str,
    *,
    segment_id: str | None = None,
    event_type: str | None = None,
    template_ids: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A template's definition with overrides. ``template_ids`` maps a step id (its
    primary template) or a template id (wherever it is used) to the tenant's template."""
    build = JOURNEY_TEMPLATES.get(key)
    if build is None:
        raise NotFound(f"unknown journey template {key!r}")
    defn = copy.deepcopy(_stored(build()))
    trigger = defn["trigger"]
    if segment_id and trigger["kind"] == "segment_entered":
        trigger["segment_id"] = segment_id
    if event_type and trigger["kind"] == "event":
        trigger["event_type"] = event_type
    mapping = dict(template_ids or {})
    for step in defn["steps"]:
        if step["kind"] != "send":
            continue
        step["template_id"] = mapping.get(
            step["id"], mapping.get(step["template_id"], step["template_id"])
        )
        for alt in step.get("alternatives") or ():
            alt["template_id"] = mapping.get(alt["template_id"], alt["template_id"])
    return defn
