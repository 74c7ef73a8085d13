"""Run the five services as background processes with logs under ``.local/logs``."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from crm_common.settings import SERVICE_PORTS
from crm_localstack import procs
from crm_localstack.paths import Paths

# Migrations run in this order; dashboard last because it reads the others.
SERVICES = ("ingest", "profile", "segment", "messaging", "dashboard")

# Processes `up` runs: ingest's webhook front (role "api": it answers and queues
# CSV imports) runs apart from its normalizer, outbox relay and import worker (role
# "worker"), so answers to cart platforms never queue behind batch work; the other
# services run both roles in one process. `INGEST_WORKERS=2 make up` serves the front
# from two processes on port 8001 (uvicorn workers; make down stops the group).
PROCESSES = ("ingest", "ingest-worker", "profile", "segment", "messaging", "dashboard")
_ROLES = {"ingest": "api", "ingest-worker": "worker"}


def service_of(process: str) -> str:
    return process.removesuffix("-worker")


def port_of(name: str) -> int:
    if name.endswith("-worker"):
        base = service_of(name)
        default = SERVICE_PORTS[base] + 10
        return int(os.environ.get(f"{base.upper()}_WORKER_PORT", default))
    return int(os.environ.get(f"{name.upper()}_PORT", SERVICE_PORTS[name]))


def url_of(name: str) -> str:
    return f"http://127.0.0.1:{port_of(name)}"


def migrate(name: str, secrets: dict[str, str] | None = None) -> None:
    env = dict(os.environ, **(secrets or {}))
    subprocess.run([sys.executable, "-m", f"crm_{name}", "migrate"], check=True, env=env)


def start(p: Paths, name: str, secrets: dict[str, str] | None = None) -> bool:
    """Start one process with the stack's ``secrets`` (environment variables)."""
    return start_as(p, name, name, port_of(name), secrets)


def start_as(
    p: Paths, record: str, name: str, port: int, env_vars: dict[str, str] | None = None
) -> bool:
    """Start process ``name`` (one of PROCESSES) on ``port``, recorded and logged as
    ``record``, with ``env_vars`` over this environment; False if it already runs."""
    if procs.live_process(procs.read_record(p.run, record)) is not None:
        return False
    service = service_of(name)
    env = dict(os.environ, PYTHONUNBUFFERED="1", **(env_vars or {}))
    env[f"{service.upper()}_PORT"] = str(port)
    if name in _ROLES:
        env[f"{service.upper()}_ROLE"] = _ROLES[name]
    if name.endswith("-worker"):
        # <SERVICE>_WORKERS sizes the HTTP front (uvicorn worker processes on one port);
        # the consumers and relays run in one worker-role process.
        env[f"{service.upper()}_WORKERS"] = "1"
    if service == "dashboard":  # served over plain http on 127.0.0.1 by `make up`
        env.setdefault("DASHBOARD_COOKIE_SECURE", "false")
    procs.spawn(
        p.run,
        record,
        [sys.executable, "-m", f"crm_{service}", "serve"],
        p.logs / f"{record}.log",
        env=env,
    )
    return True


def ready(name: str) -> bool:
    return answers(url_of(name))


def answers(url: str) -> bool:
    """``/readyz`` at ``url`` answers 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def is_running(p: Paths, name: str) -> bool:
    return procs.live_process(procs.read_record(p.run, name)) is not None


def stop(p: Paths, name: str) -> bool:
    return procs.stop(p.run, name)
