"""Browser tests: Playwright's Python package driving Debian's Chromium (no download).

The ``stack`` fixture runs ingest, profile, segment, messaging and the dashboard as
processes (each service holds its own internal key, the console the four, one metrics
token), creates a tenant through ingest's admin API,
feeds it ~150 customers with ``crm_ingest.loadgen`` plus one order the normalizer
cannot map (a dead letter), and creates console users (bootstrap admin, CLI users).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_process import ServiceProcess, run_service

from crm_common.internal_auth import AUDIENCES, key_variable, mint

ORDER = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "shopify" / "order.json"
ADMIN_TOKEN, PASSWORD = "browser-admin-token", "browser-pass-1"
METRICS_TOKEN = "browser-metrics-token-0123456789"
KEYS = {name: f"browser-internal-key-{name}-0123456789" for name in AUDIENCES}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives a real headless Chromium (Playwright)")


def poll(fetch: Callable[[], Any], timeout: float = 180.0, every: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met before the deadline")


class Stack:
    """The running processes, the tenant, and calls to the services' APIs."""

    password = PASSWORD
    poll = staticmethod(poll)

    def __init__(self, services: dict[str, ServiceProcess], tenant_id: str) -> None:
        self.services = services
        self.tenant_id = tenant_id
        self.bad_order_sent_at = datetime.now(UTC)

    def url(self, name: str) -> str:
        return self.services[name].url

    def api(self, name: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call as the console makes it: a token for this service, the tenant's admin."""
        token = mint(KEYS[name], audience=name, tenant_id=self.tenant_id, role="admin")
        headers = {"Authorization": f"Bearer {token}"}
        return httpx.request(method, self.url(name) + path, headers=headers, timeout=30, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        return httpx.request(
            method, self.url("ingest") + path, headers=headers, timeout=60, **kwargs
        )

    def preview_count(self, definition: dict[str, Any]) -> int:
        answer = self.api(
            "segment", "POST", "/v1/segments/preview", json={"definition": definition}
        )
        assert answer.status_code == 200, answer.text
        return int(answer.json()["count"])


def _signed_webhook(stack: Stack, shop: str, secret: str, body: bytes) -> int:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    headers = {
        "Content-Type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Topic": "orders/create",
        "X-Shopify-Webhook-Id": f"browser-bad-{uuid.uuid4().hex}",
        "X-Shopify-API-Version": "2024-10",
    }
    return httpx.post(
        f"{stack.url('ingest')}/webhooks/shopify", content=body, headers=headers
    ).status_code


def _run(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _feed(stack: Stack, env: dict[str, str], shop: str, secret: str) -> None:
    args = ["--url", stack.url("ingest"), "--admin-token", ADMIN_TOKEN, "--customers", "150"]
    args += ["--tenant", stack.tenant_id, "--shop", shop, "--secret", secret, "--seed", "8"]
    _run(env, "crm_ingest.loadgen", *args)
    body = json.loads(ORDER.read_bytes())
    body["line_items"][1]["quantity"] = "two"  # the normalizer cannot map it: a dead letter
    stack.bad_order_sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    assert _signed_webhook(stack, shop, secret, json.dumps(body).encode()) == 200


def _create_user(env: dict[str, str], tenant_id: str, email: str, role: str) -> None:
    args = ["--tenant", tenant_id, "--email", email, "--role", role, "--password", PASSWORD]
    _run(env, "crm_dashboard", "create-user", *args)


@pytest.fixture(scope="module")
def stack(infra: Any) -> Iterator[Stack]:
    tenant_id = f"browser-{uuid.uuid4().hex[:8]}"
    shop, secret = f"{tenant_id}.myshopify.com", "browser-webhook-secret"
    env = {"CRM_METRICS_TOKEN": METRICS_TOKEN, "SEGMENT_SWEEP_SECONDS": "5"}
    services: dict[str, ServiceProcess] = {}
    with ExitStack() as stack_:
        for name in ("ingest", "profile", "segment", "messaging"):
            own = {key_variable(name): KEYS[name]}
            admin = {"INGEST_ADMIN_TOKEN": ADMIN_TOKEN} if name == "ingest" else {}
            services[name] = stack_.enter_context(run_service(name, infra, env | own | admin))
        dashboard_env = (
            env
            | {key_variable(name): key for name, key in KEYS.items()}
            | {f"DASHBOARD_{name.upper()}_URL": svc.url for name, svc in services.items()}
            | {
                "DASHBOARD_COOKIE_SECURE": "false",
                "DASHBOARD_BOOTSTRAP_TENANT": tenant_id,
                "DASHBOARD_BOOTSTRAP_EMAIL": "owner@browser.test",
                "DASHBOARD_BOOTSTRAP_PASSWORD": PASSWORD,
            }
        )
        services["dashboard"] = stack_.enter_context(run_service("dashboard", infra, dashboard_env))
        result = Stack(services, tenant_id)
        created = result.admin(
            "POST",
            "/admin/tenants",
            json={
                "name": "Browser Shop",
                "tenant_id": tenant_id,
                "shop_domains": [shop],
                "webhook_secrets": [secret],
            },
        )
        assert created.status_code == 201, created.text
        child_env = {**services["dashboard"].env}
        _feed(result, child_env, shop, secret)
        for role in ("marketer", "viewer"):
            _create_user(child_env, tenant_id, f"{role}@browser.test", role)
        yield result
