"""``POST /webhooks/shopify``: verified, durably on crm.raw.v1, then 200.

The webhook front's hot path is :class:`ShopifyWebhookDoor`, a pure ASGI wrapper
around the routes that answers this one path itself: FastAPI's routing, dependency
solving, exit stacks and response classes cost more CPU per webhook than verifying
and producing it (py-spy under wrk). The FastAPI route below does the same through
:func:`answer` and documents the endpoint in OpenAPI; it serves only if the door is not
installed. Both answer like the app's error handlers: 401 ``unauthorized``, 400
``bad_request``, 413 ``payload_too_large``, each counted in
``crm_ingest_rejected_total{channel="webhook"}``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Receive, Scope, Send

from crm_common.errors import ApiError, error_body
from crm_common.events import utcnow
from crm_common.kafka import RecordTooLarge
from crm_ingest import metrics
from crm_ingest.context import IngestContext
from crm_ingest.handlers.errors import BadInput, Unauthorized
from crm_ingest.handlers.webhooks import Delivery, receive_shopify

PATH = "/webhooks/shopify"
router = APIRouter(tags=["webhooks"])
_ANSWERS = {outcome: b'{"status":"%s"}' % outcome.encode() for outcome in ("accepted", "ignored")}
_ANSWERED = metrics.WEBHOOK_SECONDS.labels("200")
_JSON = (b"content-type", b"application/json")


@router.post(PATH, summary="Receive a Shopify webhook", responses={401: {}, 400: {}, 413: {}})
async def shopify_webhook(request: Request) -> Response:
    status, payload = await answer(_context(request.scope), request.scope, request.receive)
    return Response(payload, status_code=status, media_type="application/json")


class ShopifyWebhookDoor:
    """Answers ``POST /webhooks/shopify`` without FastAPI (see the module docstring);
    anything else goes on to the app. Installed innermost, inside the shared wrappers
    (answer times, body limits), which see it as the route ``/webhooks/shopify``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route = next(r for r in router.routes if getattr(r, "path", None) == PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        status, payload = await answer(_context(scope), scope, receive)
        length = (b"content-length", str(len(payload)).encode())
        await send({"type": "http.response.start", "status": status, "headers": [_JSON, length]})
        await send({"type": "http.response.body", "body": payload})


def _context(scope: Scope) -> IngestContext:
    ctx: IngestContext = scope["app"].state.runtime.extras["ingest"]
    return ctx


async def answer(ctx: IngestContext, scope: Scope, receive: Receive) -> tuple[int, bytes]:
    """Status and JSON body for one webhook; errors other than the client's (the
    database or Kafka away) propagate and are answered 500."""
    started = time.perf_counter()
    status = 500
    try:
        body = await _body(scope, receive, ctx.settings.service.max_webhook_bytes)
        delivery = Delivery(_shopify_headers(scope), body, utcnow())
        outcome = await receive_shopify(ctx, delivery)
        status = 200
        return status, _ANSWERS[outcome]
    except (ApiError, Unauthorized, BadInput, RecordTooLarge) as exc:
        status, code, message = _refusal(exc)
        return status, orjson.dumps(error_body(code, message))
    finally:
        seconds = time.perf_counter() - started
        series = _ANSWERED if status == 200 else metrics.WEBHOOK_SECONDS.labels(str(status))
        series.observe(seconds)


def _refusal(exc: Exception) -> tuple[int, str, str]:
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message
    if isinstance(exc, Unauthorized):
        metrics.REJECTED.labels("webhook", exc.reason).inc()
        return 401, "unauthorized", str(exc)
    if isinstance(exc, BadInput):
        metrics.REJECTED.labels("webhook", exc.reason).inc()
        return 400, "bad_request", str(exc)
    metrics.REJECTED.labels("webhook", "too_large").inc()  # RecordTooLarge
    return 413, "payload_too_large", str(exc)


def _shopify_headers(scope: Scope) -> dict[str, str]:
    """The X-Shopify-* headers (lower-case names), decoded; the others are not."""
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in scope["headers"]
        if name.startswith(b"x-shopify-")
    }


async def _body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The body, or 413 as soon as more than ``limit`` bytes are declared or received."""
    declared = _header(scope, b"content-length")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    total, more = 0, True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise _too_large(limit)
        chunks.append(chunk)
        more = message.get("more_body", False)
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> bytes:
    value: Any = next((v for k, v in scope["headers"] if k == name), b"")
    return bytes(value)


def _too_large(limit: int) -> ApiError:
    metrics.REJECTED.labels("webhook", "too_large").inc()
    return ApiError(413, "payload_too_large", f"request body over {limit} bytes")
