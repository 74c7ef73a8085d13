"""``/v1/profiles``: read, look up, search, timeline, orders, patch, erase, export."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from crm_common.errors import ApiError
from crm_common.inputs import Amount, Instant, Int32
from crm_profile.api.deps import CallerDep, IdempotencyKey, NowDep, SessionDep, SettingsDep
from crm_profile.domain.identity import email_identifier, external_id, phone_identifier
from crm_profile.handlers import commands, views
from crm_profile.handlers.commands import ProfilePatch
from crm_profile.handlers.export import export_lines
from crm_profile.repository import reads
from crm_profile.repository.reads import SearchFilters

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])
Limit = Annotated[int, Query(ge=1, le=500)]
NDJSON = "application/x-ndjson"


@router.get("", summary="Look profiles up by email, phone or platform customer id")
async def lookup(
    session: SessionDep,
    caller: CallerDep,
    email: str | None = None,
    phone: str | None = None,
    external_id: Annotated[str | None, Query(description="platform:customer_id")] = None,
) -> dict[str, Any]:
    wanted = _identifiers(email, phone, external_id)
    ids = await reads.owners(session, caller.tenant_id, wanted)
    return {"items": [await views.profile_view(session, caller.tenant_id, pid) for pid in ids]}


def _identifiers(email: str | None, phone: str | None, ext: str | None) -> list[Any]:
    if email is None and phone is None and ext is None:
        raise ApiError(422, "invalid_request", "give email, phone or external_id", [])
    found, bad = [], []
    for name, raw, parse in (
        ("email", email, email_identifier),
        ("phone", phone, phone_identifier),
        ("external_id", ext, _external),
    ):
        if raw is None:
            continue
        ident = parse(raw)
        if ident is None:
            bad.append({"path": f"query.{name}", "message": f"not a valid {name}"})
        found.append(ident)
    if bad:
        raise ApiError(422, "invalid_request", f"{bad[0]['path']}: {bad[0]['message']}", bad)
    return found


def _external(raw: str) -> Any:
    platform, sep, customer_id = raw.partition(":")
    return external_id(platform, customer_id) if sep else None


@router.get("/search", summary="Search profiles by traits, cursor-paginated")
async def search(
    session: SessionDep,
    caller: CallerDep,
    f_stage: str | None = None,
    rfm_rank: Annotated[str | None, Query(description="one rank or a comma list: A,B")] = None,
    orders_count_min: Int32 | None = None,
    orders_count_max: Int32 | None = None,
    total_spent_min: Amount | None = None,
    total_spent_max: Amount | None = None,
    last_order_before: Instant | None = None,
    last_order_after: Instant | None = None,
    prefecture: str | None = None,
    tag: str | None = None,
    include_deleted: bool = False,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    filters = SearchFilters(
        f_stage=f_stage,
        rfm_rank=tuple(r.strip() for r in rfm_rank.split(",") if r.strip()) if rfm_rank else (),
        orders_count_min=orders_count_min,
        orders_count_max=orders_count_max,
        total_spent_min=total_spent_min,
        total_spent_max=total_spent_max,
        last_order_before=_aware(last_order_before, "last_order_before"),
        last_order_after=_aware(last_order_after, "last_order_after"),
        prefecture=prefecture,
        tag=tag,
        include_deleted=include_deleted,
    )
    after = views.decode_cursor(cursor, 1)[0] if cursor else None
    rows = await reads.search(session, caller.tenant_id, filters, after, limit + 1)
    items = [_summary(r) for r in rows[:limit]]
    more = len(rows) > limit
    return {
        "items": items,
        "next_cursor": views.encode_cursor(items[-1]["profile_id"]) if more else None,
    }


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ApiError(
            422,
            "invalid_request",
            f"query.{name}: give a timezone",
            [{"path": f"query.{name}", "message": "timestamp without a timezone"}],
        )
    return value


def _summary(row: Any) -> dict[str, Any]:
    return {"profile_id": row.profile_id, "version": row.version, "traits": row.traits}


@router.get(
    "/export",
    summary="Every live profile of the tenant with identifiers and traits (NDJSON)",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}}},
)
async def export_all(
    request: Request,
    caller: CallerDep,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> StreamingResponse:
    """One JSON object per line, by profile id; each line's ``cursor`` resumes after it."""
    after = views.decode_cursor(cursor, 1)[0] if cursor else None
    db = request.app.state.runtime.db
    lines = export_lines(db, caller.tenant_id, after, limit)
    return StreamingResponse(lines, media_type=NDJSON)


@router.get("/{profile_id}", summary="One profile (an alias id answers with the survivor)")
async def get_profile(profile_id: str, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    return await views.profile_view(session, caller.tenant_id, profile_id)


@router.get("/{profile_id}/timeline", summary="Events of the profile, newest first")
async def timeline(
    profile_id: str,
    session: SessionDep,
    caller: CallerDep,
    cursor: str | None = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    return await views.timeline_view(session, caller.tenant_id, profile_id, cursor, limit)


@router.get("/{profile_id}/orders", summary="Orders of the profile, newest first")
async def orders(profile_id: str, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    return await views.orders_view(session, caller.tenant_id, profile_id)


@router.get("/{profile_id}/export", summary="Everything held about the person")
async def export(profile_id: str, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
    return await views.export_view(session, caller.tenant_id, profile_id)


@router.patch("/{profile_id}", summary="Set attributes and consents (recorded as an event)")
async def patch(
    profile_id: str,
    body: ProfilePatch,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    now: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    pid = await commands.patch_profile(
        session,
        caller.tenant_id,
        profile_id,
        body,
        group_id=settings.group_id(),
        now=now,
        idempotency_key=idempotency_key,
    )
    return await views.profile_view(session, caller.tenant_id, pid)


@router.delete("/{profile_id}", summary="Erase the person's personal data")
async def erase(
    profile_id: str,
    session: SessionDep,
    caller: CallerDep,
    settings: SettingsDep,
    now: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    pid = await commands.redact_profile(
        session,
        caller.tenant_id,
        profile_id,
        group_id=settings.group_id(),
        now=now,
        idempotency_key=idempotency_key,
    )
    return await views.profile_view(session, caller.tenant_id, pid)
