"""crm_common.requesttiming: answer times per route template, method and status, from a
pure ASGI wrapper (no BaseHTTPMiddleware, no task group per request)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.middleware.base import BaseHTTPMiddleware

from crm_common.errors import install_error_handlers
from crm_common.requesttiming import RequestTiming
from crm_common.service import create_service_app
from crm_common.settings import BaseServiceSettings, ServiceSettings

SERVICE = "timing-test"


def _count(route: str, method: str, status: int) -> float:
    labels = {"service": SERVICE, "route": route, "method": method, "status": str(status)}
    return REGISTRY.get_sample_value("crm_http_request_seconds_count", labels) or 0.0


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestTiming, service=SERVICE)

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"thing_id": thing_id}

    @app.post("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("broken handler")

    return app


async def _call(method: str, path: str) -> int:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return (await client.request(method, path)).status_code


async def test_each_answer_is_counted_under_its_route_template() -> None:
    before = _count("/v1/things/{thing_id}", "GET", 200)
    assert await _call("GET", "/v1/things/a") == 200
    assert await _call("GET", "/v1/things/b") == 200
    assert _count("/v1/things/{thing_id}", "GET", 200) == before + 2


async def test_unmatched_paths_and_failures_are_counted_with_their_status() -> None:
    unmatched, failed = _count("unmatched", "GET", 404), _count("/v1/boom", "POST", 500)
    assert await _call("GET", "/nowhere") == 404
    assert await _call("POST", "/v1/boom") == 500
    assert _count("unmatched", "GET", 404) == unmatched + 1
    assert _count("/v1/boom", "POST", 500) == failed + 1


async def test_unknown_methods_share_one_label() -> None:
    before = _count("unmatched", "other", 404)
    assert await _call("BREW", "/nowhere") == 404
    assert await _call("PROPFIND", "/nowhere") == 404
    assert _count("unmatched", "other", 404) == before + 2
    assert _count("unmatched", "BREW", 404) == 0


def test_service_apps_time_requests_without_base_http_middleware() -> None:
    service = ServiceSettings(name=SERVICE, port=1)
    app = create_service_app(settings=BaseServiceSettings(), service=service, title="t")
    kinds = [m.cls for m in app.user_middleware]
    assert RequestTiming in kinds
    assert BaseHTTPMiddleware not in kinds
