"""History stage: a merchant moves in with years of orders, by CSV, until every
profile is settled.

Setup: a database of its own (a fresh installation: every schema migrated, no rows
of the other stages' outboxes) and topics under its own sub-prefix. ingest (the
front, role ``api``, and the worker: normalizer, relay, import worker), profile and
segment run as real processes, as ``make up`` deploys them. A tenant is created
through ingest's admin API and the built-in segment templates (優良顧客, 休眠顧客,
F2, the RFM grid ...) are installed for it, so segment evaluates what a merchant
would have.

The file: ``scale(1_000_000)`` orders of ``scale(300_000)`` customers, one row per
line item, Shift_JIS, written by :mod:`bench.orders_csv` (Faker ja_JP names, three
years of tea orders, every customer at least once). It is uploaded to
``POST /v1/imports?kind=orders`` and the clock runs from the upload until settled:

* **import**: the import's status is ``completed`` (rows read, mapped, their events
  in ingest's outbox). CSV rows are canonical events at once: the normalizer
  (``crm.raw.v1``) has nothing to do, its lag is watched all the same;
* **ingest**: ingest's outbox is empty (every event on ``crm.events.v1``);
* **profile**: every consumer group reading ``crm.events.v1`` (profile, the erasure
  consumers) has lag 0 and profile's outbox is empty (every ``profile.changed`` on
  ``crm.profiles.v1``);
* **segment**: segment's groups have lag 0 and its outbox is empty.

A stage is done at the first poll (every 0.5 s) where it and every stage before it
are; its share is the time from the previous stage's end to its own. Lag is
measured from Kafka (committed offsets of each group against the end offsets),
outboxes from PostgreSQL, never from the services' own gauges.

Reported: orders/s end to end, rows/s of the import, seconds and share of each
stage, profiles and segment read-model rows at the end (they must equal the
customers), the worker's peak RSS, and the CPU seconds each service process spent
next to the machine's busy CPU over the run (a saturated machine shows here).
``BENCH_HISTORY_TIMEOUT`` (default 5,400 s) caps the wait; a run that does not
settle in time reports how far each stage got.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.common import BenchEnv, Row, scale
from bench.orders_csv import History, write_history
from crm_common.settings import KafkaSettings, PostgresSettings

STAGE = "history"
ADMIN = "bench-admin-token"
LOGS = Path(__file__).resolve().parents[1] / ".local" / "bench-logs"
POLL = 0.5
STAGES = ("import", "ingest", "profile", "segment")


@dataclass
class Topology:
    """Which consumer groups read which topics, and the outbox of each stage."""

    kafka: KafkaSettings
    groups: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    @classmethod
    def of(cls, kafka: KafkaSettings) -> Topology:
        from crm_ingest.config import NORMALIZER_GROUP
        from crm_ingest.erasure import ERASURE_GROUP as INGEST_ERASURE
        from crm_profile.config import ProfileService
        from crm_segment.config import PROFILES_GROUP, TENANTS_GROUP
        from crm_segment.handlers.erasure import ERASURE_GROUP as SEGMENT_ERASURE

        profile = ProfileService()
        t = kafka.topic
        return cls(
            kafka,
            {
                "ingest": [(NORMALIZER_GROUP, t("crm.raw.v1"))],
                "profile": [
                    (t(profile.group), t("crm.events.v1")),
                    (t(profile.tenants_group), t("crm.tenants.v1")),
                    (INGEST_ERASURE, t("crm.events.v1")),
                    (SEGMENT_ERASURE, t("crm.events.v1")),
                ],
                "segment": [
                    (PROFILES_GROUP, t("crm.profiles.v1")),
                    (TENANTS_GROUP, t("crm.tenants.v1")),
                ],
            },
        )


class Watcher:
    """Lag of the stage's groups (Kafka) and pending rows of its outbox (PostgreSQL)."""

    def __init__(self, topology: Topology, dsn: str) -> None:
        self.topology = topology
        self.dsn = dsn
        self._admin = AIOKafkaAdminClient(bootstrap_servers=topology.kafka.bootstrap_servers)
        self._ends = AIOKafkaConsumer(bootstrap_servers=topology.kafka.bootstrap_servers)
        self._conn: asyncpg.Connection | None = None
        self._partitions: dict[str, list[TopicPartition]] = {}

    async def start(self) -> None:
        await self._admin.start()
        await self._ends.start()
        self._conn = await asyncpg.connect(self.dsn)

    async def stop(self) -> None:
        await self._admin.close()
        await self._ends.stop()
        if self._conn is not None:
            await self._conn.close()

    async def lag(self, stage: str) -> int:
        total = 0
        for group, topic in self.topology.groups.get(stage, []):
            partitions = await self._topic_partitions(topic)
            ends = await self._ends.end_offsets(partitions)
            committed = await self._admin.list_consumer_group_offsets(group, partitions=partitions)
            for tp in partitions:
                done = committed.get(tp)
                total += max(
                    0, ends[tp] - (done.offset if done is not None and done.offset >= 0 else 0)
                )
        return total

    async def pending(self, schema: str) -> int:
        assert self._conn is not None
        sql = f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL"
        return int(await self._conn.fetchval(sql))

    async def count(self, sql: str, *args: Any) -> int:
        assert self._conn is not None
        return int(await self._conn.fetchval(sql, *args))

    async def _topic_partitions(self, topic: str) -> list[TopicPartition]:
        if topic not in self._partitions:
            found = self._ends.partitions_for_topic(topic)
            if not found:
                await self._ends._client.force_metadata_update()
                found = self._ends.partitions_for_topic(topic) or set()
            self._partitions[topic] = [TopicPartition(topic, p) for p in sorted(found)]
        return self._partitions[topic]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _child_env(kafka: KafkaSettings, pg: PostgresSettings, spool: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": kafka.topic_prefix,
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password.get_secret_value(),
        "POSTGRES_DATABASE": pg.database,
        "INGEST_ADMIN_TOKEN": ADMIN,
        "INGEST_RATE_LIMIT_PER_SECOND": "100000",
        "INGEST_IMPORT_SPOOL_DIR": str(spool),
        "CRM_DEV_MODE": "1",  # the bench's own short-lived tokens
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Service:
    name: str
    url: str
    proc: subprocess.Popen[bytes]


def _spawn(name: str, package: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    LOGS.mkdir(parents=True, exist_ok=True)
    with (LOGS / f"history-{name}.log").open("wb") as out:  # kept for diagnosis
        return subprocess.Popen(
            [sys.executable, "-m", package, "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


async def _start_all(env: dict[str, str]) -> list[Service]:
    """Migrate each service's schema, start the processes, wait until all are ready."""
    for package in ("crm_ingest", "crm_profile", "crm_segment"):
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", package, "migrate"], env=env, check=True
        )
    plan = [
        ("ingest", "crm_ingest", {"INGEST_ROLE": "api"}),
        ("ingest-worker", "crm_ingest", {"INGEST_ROLE": "worker"}),
        ("profile", "crm_profile", {}),
        ("segment", "crm_segment", {}),
    ]
    services = []
    for name, package, extra in plan:
        port = _free_port()
        variable = f"{package.removeprefix('crm_').upper()}_PORT"
        proc = _spawn(name, package, {**env, **extra, variable: str(port)})
        services.append(Service(name, f"http://127.0.0.1:{port}", proc))
    deadline = time.monotonic() + 120
    async with httpx.AsyncClient(timeout=2) as client:
        for service in services:
            while True:
                try:
                    if (await client.get(f"{service.url}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or service.proc.poll() is not None:
                    raise RuntimeError(f"{service.name} did not become ready (see {LOGS})")
                await asyncio.sleep(0.3)
    return services


async def _tenant(ingest: str, segment: str) -> dict[str, Any]:
    body = {"name": "お茶の移転", "shop_domains": ["bench-history.myshopify.com"]}
    async with httpx.AsyncClient(timeout=60) as client:
        created = await client.post(
            f"{ingest}/admin/tenants", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        created.raise_for_status()
        tenant = created.json()
        auth = {"Authorization": f"Bearer {tenant['api_key']}"}
        deadline = time.monotonic() + 60
        while (
            await client.get(f"{segment}/v1/segment-templates", headers=auth)
        ).status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("segment never learnt the tenant (crm.tenants.v1)")
            await asyncio.sleep(0.3)
        templates = (await client.get(f"{segment}/v1/segment-templates", headers=auth)).json()
        for template in templates["templates"]:
            installed = await client.post(
                f"{segment}/v1/segment-templates/{template['key']}/install", headers=auth
            )
            if installed.status_code not in (200, 201, 202):
                raise RuntimeError(f"template {template['key']}: {installed.status_code}")
    return {**tenant, "segments": len(templates["templates"])}


async def _upload(ingest: str, tenant: dict[str, Any], history: History) -> str:
    async def chunks() -> Any:
        with history.path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, 1024 * 1024):
                yield chunk

    headers = {
        "Authorization": f"Bearer {tenant['api_key']}",
        "X-Cart-Platform": "makeshop",
    }
    async with httpx.AsyncClient(timeout=600) as client:
        response = await client.post(
            f"{ingest}/v1/imports?kind=orders&encoding=shift_jis", content=chunks(), headers=headers
        )
    if response.status_code != 202:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
    return str(response.json()["import_id"])


@dataclass
class Progress:
    started: float
    done: dict[str, float] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)
    peak_worker_rss: float = 0.0


async def _import_status(
    client: httpx.AsyncClient, ingest: str, tenant: dict[str, Any], import_id: str
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {tenant['api_key']}"}
    response = await client.get(f"{ingest}/v1/imports/{import_id}?limit=5", headers=headers)
    response.raise_for_status()
    return dict(response.json())


async def _settle(
    watcher: Watcher,
    ingest: str,
    tenant: dict[str, Any],
    import_id: str,
    progress: Progress,
    worker_pid: int,
    give_up_after: float,
) -> None:
    """Poll until the last stage is done (or the timeout); marks each stage's end."""
    deadline = progress.started + give_up_after
    async with httpx.AsyncClient(timeout=60) as client:
        while time.monotonic() < deadline:
            report = await _import_status(client, ingest, tenant, import_id)
            progress.last["import"] = report
            progress.peak_worker_rss = max(progress.peak_worker_rss, _rss_mb(worker_pid, "VmHWM"))
            if report["status"] == "failed":
                raise RuntimeError(f"history import failed: {report['error']}")
            states = {
                "import": report["status"] == "completed",
                "ingest": await watcher.lag("ingest") == 0 and await watcher.pending("ingest") == 0,
                "profile": await watcher.lag("profile") == 0
                and await watcher.pending("profile") == 0,
                "segment": await watcher.lag("segment") == 0
                and await watcher.pending("segment") == 0,
            }
            now = time.monotonic()
            for stage in STAGES:
                if not states[stage]:
                    break
                progress.done.setdefault(stage, now)
            if "segment" in progress.done:
                return
            await asyncio.sleep(POLL)


def _rss_mb(pid: int, field_name: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (and its reaped children), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far (/proc/stat)."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


async def _fresh_database(env: BenchEnv) -> PostgresSettings:
    name = f"{env.postgres.database}_history"
    conn = await asyncpg.connect(env.admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return env.postgres.model_copy(update={"database": name})


async def _drop_database(env: BenchEnv, pg: PostgresSettings) -> None:
    conn = await asyncpg.connect(env.admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{pg.database}" WITH (FORCE)')
    finally:
        await conn.close()


def _rows(
    history: History, tenant: dict[str, Any], progress: Progress, extra: dict[str, Any]
) -> list[Row]:
    t0 = progress.started
    marks = [t0] + [progress.done[s] for s in STAGES if s in progress.done]
    rows: list[Row] = []
    settled = "segment" in progress.done
    total = (progress.done["segment"] if settled else time.monotonic()) - t0
    imported = progress.done.get("import")
    if settled:
        rows.append(Row(STAGE, "orders_end_to_end", round(history.orders / total, 1), "orders/s"))
        rows.append(Row(STAGE, "settled_after", round(total, 1), f"s ({history.orders:,} orders)"))
    else:
        rows.append(Row(STAGE, "not_settled_after", round(total, 1), "s (timeout)"))
    if imported is not None:
        rows.append(Row(STAGE, "import_rows", round(history.rows / (imported - t0), 1), "rows/s"))
    for stage, start, end in zip(STAGES, marks, marks[1:], strict=False):
        share = (end - start) / total if total else 0.0
        rows.append(
            Row(STAGE, f"{stage}_share_s", round(end - start, 1), f"s ({share:.0%} of the run)")
        )
    rows.append(
        Row(
            STAGE,
            "file",
            history.rows,
            f"rows ({history.orders:,} orders, {history.customers:,} customers, "
            f"{history.bytes / 1e6:.0f} MB Shift_JIS)",
        )
    )
    rows += [
        Row(
            STAGE,
            "profiles_at_end",
            extra["profiles"],
            f"profiles ({history.customers:,} expected)",
        ),
        Row(STAGE, "segment_profiles_at_end", extra["segment_profiles"], "profiles"),
        Row(STAGE, "segments", tenant["segments"], "templates installed"),
        Row(STAGE, "worker_rss_peak", progress.peak_worker_rss, "MB"),
    ]
    for name, seconds in extra["cpu"].items():
        rows.append(Row(STAGE, f"cpu_{name}", round(seconds, 1), "CPU s"))
    rows.append(
        Row(STAGE, "machine_busy", round(extra["busy"], 1), f"CPU s of {extra['available']:.0f}")
    )
    return rows


async def run(env: BenchEnv, limits: dict[str, float]) -> list[Row]:
    """A merchant's order history by CSV, until every profile is settled."""
    orders, customers = scale(1_000_000), scale(300_000)
    timeout = float(os.environ.get("BENCH_HISTORY_TIMEOUT", "5400"))
    kafka = env.kafka.model_copy(update={"topic_prefix": f"{env.kafka.topic_prefix}history."})
    pg = await _fresh_database(env)
    work = Path(tempfile.mkdtemp(prefix="crm-bench-history-"))
    spool = work / "spool"
    services: list[Service] = []
    watcher = Watcher(Topology.of(kafka), pg.url("postgresql"))
    try:
        print(f"  writing {orders:,} orders of {customers:,} customers ...", flush=True)
        history = await asyncio.to_thread(
            write_history, work / "orders.csv", orders=orders, customers=customers
        )
        services = await _start_all(_child_env(kafka, pg, spool))
        by_name = {s.name: s for s in services}
        tenant = await _tenant(by_name["ingest"].url, by_name["segment"].url)
        await watcher.start()
        cpu_before = {s.name: _cpu_seconds(s.proc.pid) for s in services}
        busy_before, total_before = _machine_busy()
        progress = Progress(started=time.monotonic())
        import_id = await _upload(by_name["ingest"].url, tenant, history)
        await _settle(
            watcher,
            by_name["ingest"].url,
            tenant,
            import_id,
            progress,
            by_name["ingest-worker"].proc.pid,
            timeout,
        )
        busy_after, total_after = _machine_busy()
        extra = {
            "cpu": {s.name: _cpu_seconds(s.proc.pid) - cpu_before[s.name] for s in services},
            "busy": busy_after - busy_before,
            "available": total_after - total_before,
            "profiles": await watcher.count(
                "SELECT count(*) FROM profile.profiles WHERE tenant_id = $1", tenant["tenant_id"]
            ),
            "segment_profiles": await watcher.count(
                "SELECT count(*) FROM segment.profiles WHERE tenant_id = $1", tenant["tenant_id"]
            ),
        }
        rows = _rows(history, tenant, progress, extra)
    finally:
        await watcher.stop()
        for service in services:
            service.proc.terminate()
        for service in services:
            try:
                service.proc.wait(30)
            except subprocess.TimeoutExpired:
                service.proc.kill()
        await asyncio.to_thread(shutil.rmtree, work, True)
        await _drop_database(env, pg)
    for r in rows:
        print(f"  {r.metric:<26} {r.value:>12,.1f} {r.unit}", flush=True)
    return rows
