"""POST /v1/messages (enqueue an intent) and the send log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from crm_messaging.api.deps import ServicesDep
from crm_messaging.api.schemas import decode_cursor, encode_cursor, message_public
from crm_messaging.handlers.errors import NotFound
from crm_messaging.sending import repository as repo
from crm_messaging.sending.enqueue import MessageRequest, enqueue_message

router = APIRouter(prefix="/v1/messages", tags=["messages"])

STATES = ("queued", "sending", "sent", "failed", "skipped", "held")


@router.post(
    "",
    status_code=201,
    summary="Enqueue a message intent (idempotent: 201 when new, 200 with the existing one)",
)
async def enqueue(
    body: MessageRequest, request: Request, response: Response, services: ServicesDep
) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        result = await enqueue_message(session, caller.tenant_id, body, services.clock.now())
    response.status_code = 201 if result.created else 200
    return message_public(result.message)


@router.get("", summary="The send log: every message with its state and reason, newest first")
async def send_log(
    request: Request,
    services: ServicesDep,
    profile_id: str | None = None,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATES) + ")$")] = None,
    channel: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    after = decode_cursor(cursor)
    async with services.tenant_session(request) as (session, caller):
        rows = await repo.send_log(
            session,
            caller.tenant_id,
            profile_id=profile_id,
            state=status,
            channel=channel,
            after=after,
            limit=limit,
        )
    next_cursor = (
        encode_cursor(rows[-1]["created_at"], rows[-1]["message_id"])
        if len(rows) == limit
        else None
    )
    return {"items": [message_public(r) for r in rows], "next_cursor": next_cursor}


@router.get("/{message_id}", summary="One message")
async def get_message(message_id: str, request: Request, services: ServicesDep) -> dict[str, Any]:
    async with services.tenant_session(request) as (session, caller):
        row = await repo.get_message(session, message_id, caller.tenant_id)
    if row is None:
        raise NotFound(f"unknown message {message_id!r}")
    return message_public(row)
