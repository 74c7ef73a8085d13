"""What every service process shares: app factory, health, metrics, CLI.

A service builds its app with :func:`create_service_app`, passing a ``setup``
async context manager that wires its consumers, relays and clients onto the
:class:`Runtime`; the factory owns the engine and the producer, and adds
``/healthz``, ``/readyz`` (Kafka and Postgres round trips; names and states only),
``/metrics`` (behind ``CRM_METRICS_TOKEN``) and the error format.
:func:`service_cli` gives ``serve`` and ``migrate``.
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import typer
import uvicorn
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr
from starlette.middleware import Middleware

from crm_common import telemetry
from crm_common.bodylimits import BodyLimits
from crm_common.db import Database
from crm_common.errors import ApiError, install_error_handlers
from crm_common.inputs import StorableInput
from crm_common.kafka import ConsumerRunner, Producer, ensure_topics
from crm_common.logging import configure_logging
from crm_common.migrations import upgrade
from crm_common.outbox import OutboxRelay
from crm_common.plumbing import Retention, processed_events_retention, prune_older_than
from crm_common.requesttiming import RequestTiming
from crm_common.secrets import UnsafeSecrets, check_secrets
from crm_common.settings import BaseServiceSettings, ServiceSettings

log = logging.getLogger(__name__)
# Doors that keep what they receive as raw bytes (a webhook is stored as sent).
RAW_PATHS = ("/webhooks/",)


@dataclass
class Runtime:
    """Clients built in the lifespan; services hang their own on ``extras``."""

    settings: Any
    db: Database
    producer: Producer
    consumers: list[ConsumerRunner] = field(default_factory=list)
    relays: list[OutboxRelay] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    # Tables pruned hourly beside processed_events (worker and all roles).
    retention: list[Retention] = field(default_factory=list)


Setup = Callable[[FastAPI, Runtime], AbstractAsyncContextManager[None]]


@asynccontextmanager
async def _no_setup(_: FastAPI, __: Runtime) -> AsyncIterator[None]:
    yield


async def _start_producer(producer: Producer, attempts: int = 60) -> None:
    for attempt in range(attempts):
        try:
            await producer.start()
            return
        except Exception as exc:
            if attempt == attempts - 1:
                raise
            log.warning("kafka not reachable yet", extra={"error": repr(exc)})
            await asyncio.sleep(1)


def create_service_app(
    *,
    settings: BaseServiceSettings,
    service: ServiceSettings,
    title: str,
    description: str = "",
    routers: Sequence[APIRouter] = (),
    setup: Setup = _no_setup,
    public_paths: Sequence[str] = (),
    doors: Sequence[Middleware] = (),
) -> FastAPI:
    """A FastAPI app with the shared lifespan, health, readiness, metrics and errors.

    ``public_paths``: API path prefixes that authenticate without a credential header
    (signed callbacks); every other ``/v1/`` or ``/admin/`` request with a body needs
    one before its body is read (:mod:`crm_common.bodylimits`). ``doors``: pure ASGI
    wrappers installed innermost, inside the shared ones (answer times, body limits,
    storable input), for hot paths that answer without FastAPI's routing."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(service.name, service.log_level)
        db = Database.from_settings(settings.postgres)
        producer = Producer(
            settings.kafka, client_id=f"crm-{service.name}", linger_ms=_linger_ms(service.role)
        )
        await _start_producer(producer)
        await ensure_topics(settings.kafka)
        runtime = Runtime(settings=settings, db=db, producer=producer)
        app.state.runtime = runtime
        try:
            async with setup(app, runtime):
                if service.role == "api":
                    # An API-only replica answers requests; consumers, relays and
                    # background loops (sweeper, refresher) run in the worker role.
                    runtime.consumers.clear()
                    runtime.relays.clear()
                    for task in runtime.background:
                        task.cancel()
                    runtime.background.clear()
                for relay in runtime.relays:
                    await relay.start()
                for consumer in runtime.consumers:
                    await consumer.start()
                if service.role != "api":
                    schema = getattr(settings, "schema_name", service.name)
                    kept = processed_events_retention(schema, service.dedup_retention_days)
                    rules = [kept, *runtime.retention]
                    runtime.background.append(asyncio.create_task(_prune_forever(db, rules)))
                _freeze_startup_objects()
                log.info("service started", extra={"port": service.port})
                yield
                await _shutdown(runtime)
        finally:
            await producer.stop()
            await db.close()

    # FastAPIOffline serves the Swagger UI / ReDoc assets itself: the docs work
    # on machines without Internet access (no CDN).
    app = FastAPIOffline(
        title=title,
        description=description,
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for door in reversed(doors):  # add_middleware puts each outside the previous one
        app.add_middleware(door.cls, *door.args, **door.kwargs)
    # Inside BodyLimits: bodies are bounded, and never read for an anonymous caller.
    app.add_middleware(StorableInput, max_bytes=service.max_body_bytes, exempt=RAW_PATHS)
    app.add_middleware(BodyLimits, max_bytes=service.max_body_bytes, public=public_paths)
    app.add_middleware(RequestTiming, service=service.name)  # outermost: times them too
    _add_probes(app, service.name, service.metrics_token)
    for router in routers:
        app.include_router(router)
    return app


def _freeze_startup_objects() -> None:
    """Move what start-up made (modules, the app, clients: ~140,000 objects in ingest)
    out of the collector's reach: a full collection walked them all, 100-240 ms with
    every request on hold (the webhook front's p99 at 64 connections). They live as
    long as the process anyway."""
    gc.collect()
    gc.freeze()


def _linger_ms(role: str) -> int:
    """An HTTP front awaits every acknowledgement before it answers: a linger would add
    to every answer (5 ms at one sender) and batches nothing that load does not batch
    anyway (aiokafka keeps one produce request in flight per broker; what arrives
    meanwhile goes out together in the next). Consumers and relays keep 5 ms."""
    return 0 if role == "api" else 5


async def _prune_forever(db: Database, rules: Sequence[Retention]) -> None:
    while True:
        for rule in rules:
            try:
                deleted = await prune_older_than(db.engine, rule)
                if deleted:
                    log.info("pruned old rows", extra={"table": rule.table.name, "rows": deleted})
            except Exception as exc:  # retried next hour
                log.warning("pruning failed", extra={"table": rule.table.name, "error": repr(exc)})
        await asyncio.sleep(3600)


async def _shutdown(runtime: Runtime) -> None:
    for task in runtime.background:
        task.cancel()
    for consumer in runtime.consumers:
        await consumer.stop()
    for relay in runtime.relays:
        await relay.stop()


def _add_probes(app: FastAPI, name: str, metrics_token: SecretStr | None) -> None:
    @app.get("/healthz", tags=["ops"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get(
        "/readyz",
        tags=["ops"],
        summary="Kafka and PostgreSQL answer",
        description="Open to anyone: check names and ok/error only (the reasons are logged).",
    )
    async def readyz(request: Request) -> JSONResponse:
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        checks = {
            "postgres": await _check(runtime.db.ping()),
            "kafka": await _check(runtime.producer.check()),
            **_loop_checks(runtime),
        }
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "unready", "checks": checks},
            status_code=200 if ok else 503,
        )

    @app.get(
        "/metrics",
        tags=["ops"],
        summary="Prometheus metrics",
        description="Authorization: Bearer <CRM_METRICS_TOKEN> (open only in dev mode "
        "without a token).",
    )
    async def metrics(request: Request) -> Response:
        if metrics_token is not None and not _bearer_matches(request, metrics_token):
            raise ApiError(
                401, "unauthorized", "missing or wrong metrics token (Authorization: Bearer)"
            )
        runtime: Runtime | None = getattr(request.app.state, "runtime", None)
        if runtime is not None:
            await _refresh_gauges(runtime)
        return Response(telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)


def _bearer_matches(request: Request, token: SecretStr) -> bool:
    auth = request.headers.get("authorization", "")
    presented = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    return hmac.compare_digest(presented.encode(), token.get_secret_value().encode())


def _loop_checks(runtime: Runtime) -> dict[str, str]:
    """Every consumer and relay loop: "ok", or "error" while it is being restarted (the
    runner logs why; /readyz is anonymous and says no more than the state)."""
    loops: list[tuple[str, str | None]] = [
        (f"consumer:{c.group_id}", c.problem()) for c in runtime.consumers
    ]
    loops += [(f"relay:{r.schema}", r.problem()) for r in runtime.relays]
    return {name: "ok" if problem is None else "error" for name, problem in loops}


async def _check(probe: Any) -> str:
    try:
        await asyncio.wait_for(probe, timeout=3.0)
        return "ok"
    except Exception as exc:
        log.warning("readiness probe failed", extra={"error": repr(exc)})
        return "error"


async def _refresh_gauges(runtime: Runtime) -> None:
    for consumer in runtime.consumers:
        try:
            telemetry.CONSUMER_LAG.labels(consumer.group_id).set(await consumer.lag())
        except Exception:
            pass
    for relay in runtime.relays:
        try:
            await relay.pending()
        except Exception:
            pass


def service_cli(
    package: str,
    service_factory: Callable[[], ServiceSettings],
    settings_factory: Callable[[], BaseServiceSettings],
) -> typer.Typer:
    """``python -m crm_<name> serve|migrate``."""
    cli = typer.Typer(pretty_exceptions_enable=False, no_args_is_help=True)

    @cli.command()
    def serve() -> None:
        """Run the HTTP service (and its consumers) with uvicorn."""
        svc = service_factory()
        configure_logging(svc.name, svc.log_level)
        try:
            check_secrets(svc.secrets())
        except UnsafeSecrets as exc:
            typer.echo(f"{svc.name}: {exc}", err=True)
            raise typer.Exit(2) from None
        metrics_dir = _shared_metrics_dir(svc.name) if svc.workers > 1 else None
        try:
            uvicorn.run(
                f"{package}.app:create_app",
                factory=True,
                host=svc.host,
                port=svc.port,
                workers=svc.workers,
                log_config=None,
                access_log=False,  # no line per request (an answer costs ~0.3 ms)
                timeout_graceful_shutdown=20,
            )
        finally:
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)

    @cli.command()
    def migrate() -> None:
        """Create or upgrade this service's schema (Alembic)."""
        settings = settings_factory()
        upgrade(package, settings.postgres.url())
        typer.echo(f"{package}: schema at head")

    return cli


def _shared_metrics_dir(service: str) -> str:
    """A fresh directory for the workers' metrics (:func:`crm_common.telemetry.exposition`);
    set in the environment before uvicorn spawns them, so each imports prometheus_client
    in multiprocess mode."""
    path = tempfile.mkdtemp(prefix=f"crm-{service}-metrics-")
    os.environ[telemetry.MULTIPROCESS_DIR] = path
    return path
