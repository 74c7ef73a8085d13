"""Request bodies are bounded and never read for a caller without credentials.

FastAPI reads and parses a request's body before the route's dependencies run,
authentication among them: an anonymous 6 MB JSON body used to cost each service
~140 MB of memory before the 401. This pure ASGI wrapper answers first:

- a request with a body to an API path (``/v1/``, ``/admin/``) that presents no
  credential at all (no ``Authorization`` / ``X-Api-Key``) is answered 401 without
  reading the body; which credential is valid is still the route's business.
  Paths that authenticate otherwise (signed provider callbacks) are listed in
  ``public``;
- a body over ``max_bytes`` is answered 413 with the limit: at once when
  ``Content-Length`` says so, else as soon as the streamed body passes it.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_common.errors import error_body

# API path prefix -> what its callers must present (the routes' own 401 wording).
API_PREFIXES = {
    "/v1/": "missing API key (Authorization: Bearer <key>)",
    "/admin/": "missing admin token (Authorization: Bearer <token>)",
}
_CREDENTIALS = (b"authorization", b"x-api-key")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _TooLarge(HTTPException):
    """Raised from ``receive`` mid-body: FastAPI re-raises HTTP exceptions from body
    reading, so the app's own handler answers 413 ``payload_too_large``."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body over {limit} bytes")


class BodyLimits:
    def __init__(self, app: ASGIApp, max_bytes: int | None, public: Sequence[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.public = tuple(public)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        path: str = scope.get("path", "")
        wanted = self._wanted_credential(path)
        if wanted is not None and not any(headers.get(h) for h in _CREDENTIALS):
            await _answer(send, 401, error_body("unauthorized", wanted))
            return
        limit = self.max_bytes
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, _too_large(limit))
            return
        await self._bounded(scope, receive, send, limit)

    def _wanted_credential(self, path: str) -> str | None:
        if self.public and path.startswith(self.public):
            return None
        return next((m for prefix, m in API_PREFIXES.items() if path.startswith(prefix)), None)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except _TooLarge:
            if not started:
                await _answer(send, 413, _too_large(limit))


def _too_large(limit: int) -> dict[str, object]:
    return error_body("payload_too_large", f"request body over {limit} bytes")


async def _answer(send: Send, status: int, body: dict[str, object]) -> None:
    payload = orjson.dumps(body)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
