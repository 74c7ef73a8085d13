"""Published default secrets open nothing: outside dev mode a service refuses them."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from crm_common.internal_auth import AUDIENCES, key_variable
from crm_common.secrets import UnsafeSecrets, check_secrets, problems
from crm_localstack import secrets as stack_secrets
from crm_localstack.paths import Paths

SERVICES = ("ingest", "profile", "segment", "messaging", "dashboard")
SOUND = "x" * 40
KEYS = {key_variable(a) for a in AUDIENCES}
# Published defaults each service holds (and must refuse); every one also needs
# CRM_METRICS_TOKEN, which has no default (missing).
HELD = {
    "ingest": {key_variable("ingest"), "INGEST_ADMIN_TOKEN", "INGEST_SECRETS_KEY"},
    "profile": {key_variable("profile")},
    "segment": {key_variable("segment")},
    "messaging": {key_variable("messaging")},
    "dashboard": {*KEYS, "DASHBOARD_SESSION_SECRET"},
}
VARIABLES = {
    *KEYS,
    "CRM_METRICS_TOKEN",
    "INGEST_ADMIN_TOKEN",
    "INGEST_SECRETS_KEY",
    "DASHBOARD_SESSION_SECRET",
}


def test_missing_published_and_short_secrets_are_named() -> None:
    found = problems(
        {
            "A_TOKEN": None,
            "B_TOKEN": SecretStr("dev-service-token"),
            "C_TOKEN": SecretStr("short"),
            "D_TOKEN": SecretStr(SOUND),
        }
    )

    assert found == [
        "A_TOKEN: missing",
        "B_TOKEN: the published default 'dev-service-token'",
        "C_TOKEN: shorter than 24 characters",
    ]
    with pytest.raises(UnsafeSecrets, match="B_TOKEN"):
        check_secrets({"B_TOKEN": SecretStr("dev-admin-token")}, environ={})
    check_secrets({"B_TOKEN": SecretStr("dev-admin-token")}, environ={"CRM_DEV_MODE": "1"})


def _without_dev_mode(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CRM_DEV_MODE"}
    for variable in (*VARIABLES, "CRM_SERVICE_TOKEN"):
        env.pop(variable, None)
        env.pop(f"DASHBOARD_{variable}", None)
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


@pytest.mark.parametrize("name", SERVICES)
def test_a_service_refuses_to_start_on_default_secrets(name: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"crm_{name}", "serve"],
        env=_without_dev_mode(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr[-2000:]
    named = {v for v in VARIABLES if f"{v}: the published default" in done.stderr}
    assert named == HELD[name], done.stderr[-2000:]
    assert "CRM_METRICS_TOKEN: missing" in done.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.infra
def test_a_service_with_sound_secrets_starts_without_dev_mode(infra) -> None:  # type: ignore[no-untyped-def]
    port = _free_port()
    env = _without_dev_mode(
        **infra.env,
        INGEST_PORT=str(port),
        CRM_INTERNAL_KEY_INGEST="k" * 32,
        CRM_METRICS_TOKEN="m" * 32,
        INGEST_ADMIN_TOKEN="a" * 32,
        INGEST_SECRETS_KEY="e" * 32,
    )
    env.pop("CRM_DEV_MODE", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "crm_ingest", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline, status = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code
            except httpx.HTTPError:
                status = None
            if status == 200:
                break
            time.sleep(0.3)
        assert status == 200, proc.stderr.read().decode()[-2000:] if proc.poll() else status
        token = {"Authorization": f"Bearer {'a' * 32}"}
        default = {"Authorization": "Bearer dev-admin-token"}
        assert httpx.get(f"http://127.0.0.1:{port}/admin/tenants", headers=token).status_code == 200
        assert (
            httpx.get(f"http://127.0.0.1:{port}/admin/tenants", headers=default).status_code == 401
        )
        metrics = f"http://127.0.0.1:{port}/metrics"
        assert httpx.get(metrics).status_code == 401
        scrape = httpx.get(metrics, headers={"Authorization": f"Bearer {'m' * 32}"})
        assert scrape.status_code == 200 and "crm_" in scrape.text
    finally:
        proc.terminate()
        proc.wait(30)


def test_make_up_generates_its_secrets_once_privately(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_LOCAL_DIR", str(tmp_path / ".local"))
    for variable in stack_secrets.VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    p = Paths(tmp_path)

    first = stack_secrets.ensure(p)
    again = stack_secrets.ensure(p)
    monkeypatch.setenv("INGEST_ADMIN_TOKEN", "operator-chosen-admin-token-0123456789")
    chosen = stack_secrets.ensure(p)

    path = stack_secrets.secrets_file(p)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert first == again and set(first) == set(stack_secrets.VARIABLES)
    assert problems({k: SecretStr(v) for k, v in first.items()}) == []
    assert len(set(first.values())) == len(first)
    assert chosen["INGEST_ADMIN_TOKEN"] == "operator-chosen-admin-token-0123456789"
    assert chosen["CRM_METRICS_TOKEN"] == first["CRM_METRICS_TOKEN"]
    assert set(first) >= VARIABLES


def test_make_up_gives_each_service_only_the_secrets_it_holds() -> None:
    values = {v: f"value-of-{v}" for v in VARIABLES}
    for name in SERVICES:
        given = set(stack_secrets.held_by(name, values))
        assert given == HELD[name] | {"CRM_METRICS_TOKEN"}, name
