"""/v1/journeys (CRUD, lifecycle, runs) and /v1/journey-templates (list, install)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from crm_messaging.api.deps import ServicesDep
from crm_messaging.handlers import journeys as handlers
from crm_messaging.repository import journey_runs as runs_repo
from crm_messaging.repository import journeys as repo

router = APIRouter(prefix="/v1/journeys", tags=["journeys"])
templates_router = APIRouter(prefix="/v1/journey-templates", tags=["journeys"])

_ID = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")


class JourneyCreate(BaseModel):
    id: str | None = _ID
    name: str = Field(min_length=1, max_length=200)
    definition: dict[str, Any]


class JourneyUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    definition: dict[str, Any] | None = None


class TemplateInstall(BaseModel):
    id: str | None = _ID
    name: str | None = Field(default=None, min_length=1, max_length=200)
    segment_id: str | None = Field(default=None, min_length=1)
    event_type: str | None = Field(default=None, min_length=1)
    template_ids: dict[str, str] = Field(default_factory=dict)


def journey_public(row: Mapping[Any, Any]) -> dict[str, Any]:
    return {
        "id": row["journey_id"],
        "name": row["name"],
        "status": row["status"],
        "version": row["version"],
        "definition": row["definition"],
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def run_public(row: Mapping[Any, Any], history: list[Any]) -> dict[str, Any]:
    return {
        "run_id": row["run_id"],
        "profile_id": row["profile_id"],
        "version": row["version"],
        "status": row["status"],
        "current_step_id": row["current_step_id"],
        "step_entered_at": _iso(row["step_entered_at"]),
        "next_wake_at": _iso(row["next_wake_at"]),
        "exit_reason": row["exit_reason"],
        "entered_at": _iso(row["entered_at"]),
        "finished_at": _iso(row["finished_at"]),
        "context": row["context"],
        "history": [
            {
                "seq": h["seq"],
                "step_id": h["step_id"],
                "action": h["action"],
                "detail": h["detail"],
                "at": _iso(h["at"]),
            }
            for h in history
        ],
    }


@router.post("", status_code=201, summary="Create a journey (draft, version 1)")
async def create(body: JourneyCreate, request: Request, services: ServicesDep) -> dict[str, Any]:
    journey_id = body.id or uuid.uuid4().hex
    async with services.tenant_session(request) as (session, caller):
        row = await handlers.create(
            session, caller.tenant_id, journey_id, body.name, body.definition, services.clock.now()
        )
    return journey_public(row)


@router.get("", summary="All journeys of the tenant")
async def list_journeys(request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        rows = await repo.list_all(session, caller.tenant_id)
    return {"items": [journey_public(r) for r in rows]}


@router.get("/{journey_id}", summary="A journey with its current definition")
async def get_journey(journey_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        row = await handlers.existing(session, caller.tenant_id, journey_id)
    return journey_public(row)


@router.put("/{journey_id}", summary="Save a new version (running people keep theirs)")
async def update(
    journey_id: str, body: JourneyUpdate, request: Request, services: ServicesDep
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        row = await handlers.update(
            session, caller.tenant_id, journey_id, body.name, body.definition, services.clock.now()
        )
    return journey_public(row)


async def _transition(
    journey_id: str, command: str, request: Request, services: ServicesDep
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        row = await handlers.transition(
            session, caller.tenant_id, journey_id, command, services.clock.now()
        )
    return journey_public(row)


@router.post("/{journey_id}/start", summary="Go live (draft or paused)")
async def start(journey_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await _transition(journey_id, "start", request, services)


@router.post("/{journey_id}/pause", summary="Hold entries and runs")
async def pause(journey_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await _transition(journey_id, "pause", request, services)


@router.post("/{journey_id}/resume", summary="Continue held runs")
async def resume(journey_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await _transition(journey_id, "resume", request, services)


@router.post("/{journey_id}/archive", summary="Stop for good; active runs exit")
async def archive(journey_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    return await _transition(journey_id, "archive", request, services)


@router.get("/{journey_id}/runs", summary="Runs (of one person): where and why")
async def runs(
    journey_id: str, request: Request, services: ServicesDep, profile_id: str | None = None
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        await handlers.existing(session, caller.tenant_id, journey_id)
        rows = await runs_repo.runs_of(session, caller.tenant_id, journey_id, profile_id)
        history = await runs_repo.history(session, [r["run_id"] for r in rows])
    return {"items": [run_public(r, history[r["run_id"]]) for r in rows]}


@templates_router.get("", summary="Installable journey templates")
async def list_templates(request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request):
        pass
    return {"items": handlers.template_definitions()}


@templates_router.post("/{key}/install", status_code=201, summary="Copy a template (draft)")
async def install(
    key: str, body: TemplateInstall, request: Request, services: ServicesDep
) -> dict[str, Any]:
    # The caller first: a stranger learns nothing, not even which template keys exist.
    async with services.tenant_session(request) as (session, caller):
        definition = handlers.installed_definition(
            key,
            segment_id=body.segment_id,
            event_type=body.event_type,
            template_ids=body.template_ids,
        )
        name = body.name or str(definition["name"])
        journey_id = body.id or f"{key}-{uuid.uuid4().hex[:8]}"
        row = await handlers.create(
            session, caller.tenant_id, journey_id, name, definition, services.clock.now()
        )
    return journey_public(row)
