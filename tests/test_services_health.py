"""Each of the five services starts as a real process and answers its probes; the
internal-token attacks of issue 12 (item 1) and anonymous /metrics (item 11) fail."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from typing import Any

import httpx
import pytest

from crm_common.internal_auth import Role, dev_key, mint

pytestmark = pytest.mark.infra

SERVICES = ("ingest", "profile", "segment", "messaging", "dashboard")
METRICS_TOKEN = "metrics-" + "m" * 32
SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}
SEGMENT = {"name": "Big spenders", "definition": {"trait": "total_spent", "op": ">=", "value": 1}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def running_services(infra):  # type: ignore[no-untyped-def]
    import os

    procs, urls = [], {}
    for name in SERVICES:
        port = _free_port()
        env = {
            **os.environ,
            **infra.env,
            f"{name.upper()}_PORT": str(port),
            "CRM_METRICS_TOKEN": METRICS_TOKEN,
            "PYTHONUNBUFFERED": "1",
        }
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", f"crm_{name}", "serve"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
        urls[name] = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    pending = set(SERVICES)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            try:
                if httpx.get(f"{urls[name]}/readyz", timeout=2).status_code == 200:
                    pending.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    yield urls, pending
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(30)


@pytest.mark.parametrize("name", SERVICES)
def test_service_probes(running_services, name: str) -> None:  # type: ignore[no-untyped-def]
    urls, not_ready = running_services
    assert name not in not_ready, f"{name} never answered /readyz with 200"
    base = urls[name]
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok", "service": name}
    ready = httpx.get(f"{base}/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert set(body["checks"].values()) == {"ok"}, body
    engines = {k: v for k, v in body["checks"].items() if ":" not in k}
    assert engines == {"postgres": "ok", "kafka": "ok"}
    loops = {k.partition(":")[0] for k in body["checks"] if ":" in k}
    # Every loop is a check of its own (a stopped one makes /readyz 503, naming it).
    assert loops == ({"consumer"} if name == "dashboard" else {"consumer", "relay"}), body
    metrics = httpx.get(f"{base}/metrics", headers=SCRAPE)
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "crm_http_request_seconds_bucket" in metrics.text
    openapi = httpx.get(f"{base}/openapi.json").json()
    assert openapi["info"]["title"] == f"CRM {name}"
    assert {"/healthz", "/readyz", "/metrics"} <= set(openapi["paths"])
    assert httpx.get(f"{base}/docs").status_code == 200


def test_services_stop_gracefully_on_sigterm(running_services) -> None:  # type: ignore[no-untyped-def]
    # Covered by the fixture's teardown (terminate + wait); here: unknown routes answer
    # with the error shape every client can rely on.
    urls, _ = running_services
    response = httpx.get(f"{urls['profile']}/nope")
    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "Not Found", "details": []}
    }


def test_api_docs_are_served_without_a_cdn(running_services) -> None:  # type: ignore[no-untyped-def]
    import re

    urls, _ = running_services
    page = httpx.get(f"{urls['segment']}/docs").text
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    assets = re.findall(r'(?:src|href)="(/[^"]+\.(?:js|css))"', page)
    assert assets, page
    for asset in assets:
        assert httpx.get(f"{urls['segment']}{asset}").status_code == 200, asset


@pytest.mark.parametrize("name", ["profile", "segment", "messaging"])
def test_bodies_are_bounded_and_not_read_without_credentials(  # type: ignore[no-untyped-def]
    running_services, name: str
) -> None:
    urls, _ = running_services
    base = urls[name]
    route = {
        "profile": ("PUT", "/v1/settings/rfm"),
        "segment": ("POST", "/v1/segments"),
        "messaging": ("POST", "/v1/templates"),
    }
    method, path = route[name]
    url = f"{base}{path}"
    big = b'{"pad": "' + b"x" * (6 * 1024 * 1024) + b'"}'
    service = {"Authorization": "Bearer some-credential"}  # not checked before the size

    anonymous = httpx.request(method, url, content=big, timeout=30)
    declared = httpx.request(method, url, content=big, headers=service, timeout=30)

    def chunks():  # type: ignore[no-untyped-def]
        for _ in range(6):
            yield b"x" * (1024 * 1024)

    streamed = httpx.request(method, url, content=chunks(), headers=service, timeout=30)

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["message"] == "missing API key (Authorization: Bearer <key>)"
    assert declared.status_code == 413
    assert declared.json()["error"]["message"] == f"request body over {2 * 1024 * 1024} bytes"
    assert (streamed.status_code, streamed.json()["error"]["code"]) == (413, "payload_too_large")


# -- issue 12: /metrics and internal tokens ------------------------------------------


@pytest.mark.parametrize("name", SERVICES)
def test_metrics_need_the_scrape_token(running_services, name: str) -> None:  # type: ignore[no-untyped-def]
    url = f"{running_services[0][name]}/metrics"
    anonymous = httpx.get(url)
    wrong = httpx.get(url, headers={"Authorization": "Bearer nope"})
    assert (anonymous.status_code, wrong.status_code) == (401, 401)
    assert anonymous.json()["error"]["code"] == "unauthorized"
    assert "crm_" not in anonymous.text
    assert httpx.get(url, headers=SCRAPE).status_code == 200


def _token(audience: str, tenant: str, role: Role = "viewer", **claims: Any) -> dict[str, str]:
    key = claims.pop("key", dev_key(audience))
    token = mint(key, audience=audience, tenant_id=tenant, role=role, **claims)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def tenant(running_services) -> str:  # type: ignore[no-untyped-def]
    """A tenant created through ingest's admin API, known to profile, segment and
    messaging (crm.tenants.v1) once the console's token finds it there."""
    urls, _ = running_services
    body = {"name": "Token shop", "tenant_id": f"tok-{uuid.uuid4().hex[:8]}"}
    created = httpx.post(
        f"{urls['ingest']}/admin/tenants",
        json=body,
        headers={"Authorization": "Bearer dev-admin-token"},
    )
    assert created.status_code == 201, created.text
    tenant_id = str(created.json()["tenant_id"])
    reads = {
        "profile": "/v1/profiles/search",
        "segment": "/v1/segments",
        "messaging": "/v1/templates",
    }
    deadline = time.monotonic() + 60
    for name, path in reads.items():
        while httpx.get(f"{urls[name]}{path}", headers=_token(name, tenant_id)).status_code != 200:
            assert time.monotonic() < deadline, f"{name} never learnt of {tenant_id}"
            time.sleep(0.2)
    return tenant_id


@pytest.mark.parametrize(
    ("name", "path"),
    [
        ("profile", "/v1/profiles/search"),
        ("segment", "/v1/segments"),
        ("messaging", "/v1/templates"),
        ("ingest", "/v1/imports/imp_none"),
    ],
)
def test_the_old_shared_token_with_x_tenant_id_acts_as_no_tenant(  # type: ignore[no-untyped-def]
    running_services, tenant: str, name: str, path: str
) -> None:
    url = f"{running_services[0][name]}{path}"
    for token in ("dev-service-token", dev_key(name)):
        answer = httpx.get(url, headers={"Authorization": f"Bearer {token}", "X-Tenant-Id": tenant})
        assert answer.status_code == 401, (token, answer.text)


def test_a_token_for_profile_is_refused_by_segment_and_an_expired_one_by_profile(  # type: ignore[no-untyped-def]
    running_services, tenant: str
) -> None:
    urls, _ = running_services
    for_profile = _token("profile", tenant)
    assert (
        httpx.get(f"{urls['profile']}/v1/profiles/search", headers=for_profile).status_code == 200
    )
    refused = httpx.get(f"{urls['segment']}/v1/segments", headers=for_profile)
    assert refused.status_code == 401
    assert "signature" in refused.json()["error"]["message"]
    # Audience "segment" but signed with profile's key (a leaked profile key).
    forged = _token("segment", tenant, key=dev_key("profile"))
    assert httpx.get(f"{urls['segment']}/v1/segments", headers=forged).status_code == 401
    expired = _token("profile", tenant, now=time.time() - 120)
    answer = httpx.get(f"{urls['profile']}/v1/profiles/search", headers=expired)
    assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]


def test_a_viewer_token_cannot_write_a_marketer_can_and_settings_need_an_admin(  # type: ignore[no-untyped-def]
    running_services, tenant: str
) -> None:
    urls, _ = running_services
    segments = f"{urls['segment']}/v1/segments"
    as_viewer = httpx.post(segments, json=SEGMENT, headers=_token("segment", tenant))
    assert as_viewer.status_code == 403, as_viewer.text
    assert as_viewer.json()["error"]["message"] == (
        "POST /v1/segments needs role marketer, the token has viewer"
    )
    preview = {"definition": SEGMENT["definition"], "sample_size": 1}
    previewed = httpx.post(f"{segments}/preview", json=preview, headers=_token("segment", tenant))
    assert previewed.status_code == 200, previewed.text
    created = httpx.post(segments, json=SEGMENT, headers=_token("segment", tenant, "marketer"))
    assert created.status_code == 202, created.text  # the segment, its fill queued as a job

    settings = f"{urls['messaging']}/v1/settings"
    assert httpx.get(settings, headers=_token("messaging", tenant, "marketer")).status_code == 403
    assert httpx.get(settings, headers=_token("messaging", tenant, "admin")).status_code == 200


def test_ingest_takes_no_internal_token_on_its_data_and_tenant_routes(  # type: ignore[no-untyped-def]
    running_services, tenant: str
) -> None:
    urls, _ = running_services
    admin = _token("ingest", tenant, "admin")
    event = httpx.post(f"{urls['ingest']}/v1/events", json={}, headers=admin)
    assert event.status_code == 403, event.text
    operator = {
        "Authorization": "Bearer "
        + mint(dev_key("ingest"), audience="ingest", tenant_id=None, role="admin", operator=True)
    }
    assert httpx.get(f"{urls['ingest']}/admin/tenants", headers=operator).status_code == 401
    assert httpx.get(f"{urls['ingest']}/admin/dlq?limit=0", headers=operator).status_code == 200
