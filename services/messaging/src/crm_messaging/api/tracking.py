"""Public tracking endpoints: open pixel, click redirect, unsubscribe (RFC 8058)."""

from __future__ import annotations

import base64
import html

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from crm_messaging.api.deps import ServicesDep
from crm_messaging.handlers import tracking

router = APIRouter(prefix="/t", tags=["tracking"])

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, max-age=0"}


@router.get("/o/{token}", summary="Open pixel")
async def opened(token: str, services: ServicesDep) -> Response:
    async with services.session() as session:
        await tracking.record_open(session, token, services.clock.now())
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/c/{token}", summary="Click redirect (only to a URL the message contained)")
async def clicked(token: str, services: ServicesDep) -> Response:
    async with services.session() as session:
        url = await tracking.record_click(session, token, services.clock.now())
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


@router.get("/u/{token}", summary="Unsubscribe page (asks to confirm)")
async def unsubscribe_page(token: str, services: ServicesDep) -> HTMLResponse:
    async with services.session() as session:
        message = await tracking.check_unsubscribe(session, token, services.clock.now())
    channel = html.escape(message["channel"])
    action = html.escape(token, quote=True)
    page = (
        "<!doctype html><meta charset=utf-8><title>配信停止 / Unsubscribe</title>"
        f"<p>{channel} の配信を停止しますか？ Stop receiving {channel} messages?</p>"
        f'<form method="post" action="{action}"><button type="submit">配信停止 / Unsubscribe'
        "</button></form>"
    )
    return HTMLResponse(page, headers=_NO_STORE)


@router.post("/u/{token}", summary="Unsubscribe (form or RFC 8058 one-click)")
async def unsubscribe(token: str, services: ServicesDep) -> HTMLResponse:
    async with services.session() as session:
        message = await tracking.unsubscribe(session, token, services.clock.now())
    channel = html.escape(message["channel"])
    page = (
        "<!doctype html><meta charset=utf-8><title>配信停止しました</title>"
        f"<p>{channel} の配信を停止しました。 You are unsubscribed from {channel} messages.</p>"
    )
    return HTMLResponse(page, headers=_NO_STORE)
