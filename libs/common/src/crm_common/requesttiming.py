"""Answer times per route, method and status (``crm_http_request_seconds``).

A pure ASGI wrapper: it times the call of the app inside it and reads the status from
the ``http.response.start`` message on its way out. Starlette's ``BaseHTTPMiddleware``
(``@app.middleware("http")``), which did this before, ran every request in an anyio
task group with a memory stream for the response body: about a third of the webhook
front's CPU under load. The route label is the route's path template (read after the
router has matched), ``unmatched`` when no route did.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_common import telemetry

# Any token is a method to the HTTP parser: others share one label, so a client cannot
# grow the series (or this module's cache of them) without bound.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestTiming:
    """Observes ``crm_http_request_seconds{service, route, method, status}`` for every
    HTTP request; an exception with no answer sent counts as 500 and goes on."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self._series: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self._series_of(path, method, status).observe(time.perf_counter() - started)

    def _series_of(self, route: str, method: str, status: int) -> Any:
        """The histogram child of one label set (looked up once, not per request)."""
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            series = telemetry.HTTP_SECONDS.labels(self.service, route, method, status)
            self._series[key] = series
        return series
