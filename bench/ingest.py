"""Ingest stage: generic batch rate, normalizer rate, CSV import rate; throughput rows
as a ratio to the same-run raw Kafka produce limit (the webhook front and its peer are
the ``front`` stage, bench/front.py).

Runs the real service as subprocesses (front, role ``api``; worker: normalizer, relay,
import worker) against the bench database and topic prefix.

* ``generic_batch_events``: ``scale(30)`` batches of 1,000 ``order.placed`` posted
  by 4 clients to ``/v1/events/batch``, from the first request to the last answer.
* ``normalizer_events``: ``scale(10,000)`` raw Shopify records (the load generator's
  shop) produced to ``crm.raw.v1``; events/s until every fact they tell (one event
  per fact, as the normalizer publishes them) is read back from ``crm.events.v1``.
* ``csv_import_rows``: an orders export of ``BENCH_CSV_ROWS`` rows (default
  ``scale(200,000)``; :mod:`bench.orders_csv`, Shift_JIS, one line item per row)
  from the upload until the import is ``completed``; ``csv_customers_rows`` the same
  for a customers file of half as many rows. The RSS rows are the front's and the
  worker's before and at their peak during the orders import.
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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaConsumer

from bench.common import BenchEnv, Row, scale
from bench.history import _cpu_seconds
from bench.orders_csv import write_history
from crm_common.kafka import Producer
from crm_ingest.loadgen_shop import Shop
from crm_ingest.raw_record import RawRecord
from crm_ingest.topics import partitions_of

STAGE = "ingest"
ADMIN = "bench-admin-token"


def _env(env: BenchEnv, port: int) -> dict[str, str]:
    pg = env.postgres
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": env.kafka.bootstrap_servers,
        "KAFKA_TOPIC_PREFIX": env.kafka.topic_prefix,
        "POSTGRES_HOST": pg.host,
        "POSTGRES_PORT": str(pg.port),
        "POSTGRES_USER": pg.user,
        "POSTGRES_PASSWORD": pg.password.get_secret_value(),
        "POSTGRES_DATABASE": pg.database,
        "INGEST_PORT": str(port),
        "INGEST_ADMIN_TOKEN": ADMIN,
        "CRM_DEV_MODE": "1",  # the bench's own short-lived tokens
        "INGEST_RATE_LIMIT_PER_SECOND": "100000",
        "INGEST_IMPORT_SPOOL_DIR": f"/tmp/crm-bench-spool-{env.kafka.topic_prefix.strip('.')}",
        "LOG_LEVEL": "WARNING",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Migrate, then start ``python -m crm_ingest serve`` (blocking; run in a thread)."""
    Path(env["INGEST_IMPORT_SPOOL_DIR"]).mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "crm_ingest", "migrate"], env=env, check=True)
    return subprocess.Popen(
        [sys.executable, "-m", "crm_ingest", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def _start(env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    proc = await asyncio.to_thread(_spawn, env)
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return proc
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    proc.kill()
    raise RuntimeError("ingest did not become ready")


async def _tenant(url: str) -> dict[str, Any]:
    shop, secret = "bench-tea.myshopify.com", "bench-webhook-secret"
    body = {"name": "bench", "shop_domains": [shop], "webhook_secrets": [secret]}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{url}/admin/tenants", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
        )
    response.raise_for_status()
    return {**response.json(), "shop": shop, "secret": secret}


def _generic(i: int) -> dict[str, Any]:
    return {
        "event_id": f"bench-{i}",
        "type": "order.placed",
        "occurred_at": "2026-06-01T10:00:00+09:00",
        "identity": {"email": f"buyer{i % 5000}@example.jp"},
        "data": {
            "order_id": f"o{i}",
            "placed_at": "2026-06-01T10:00:00+09:00",
            "currency": "JPY",
            "total": str(1000 + i % 9000),
            "lines": [
                {
                    "line_id": "1",
                    "sku": "TEA-1",
                    "title": "煎茶",
                    "quantity": 1,
                    "unit_price": {"amount": "1000", "currency": "JPY"},
                }
            ],
        },
    }


async def _batches(url: str, tenant: dict[str, Any], limit: float) -> tuple[list[Row], int]:
    batches = scale(30)
    bodies = [
        orjson.dumps(
            {"source": "makeshop", "events": [_generic(b * 1000 + i) for i in range(1000)]}
        )
        for b in range(batches)
    ]
    headers = {"Authorization": f"Bearer {tenant['api_key']}", "Content-Type": "application/json"}
    queue = list(bodies)

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            response = await client.post(
                f"{url}/v1/events/batch", content=queue.pop(), headers=headers
            )
            if response.status_code != 207 or response.json()["accepted"] != 1000:
                raise RuntimeError(f"batch answered {response.status_code}")

    async with httpx.AsyncClient(timeout=120) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(4)))
        rate = batches * 1000 / (time.perf_counter() - started)
    return [
        Row(STAGE, "generic_batch_events", round(rate, 1), "events/s", rate / limit)
    ], batches * 1000


async def _drained(url: str) -> None:
    """Wait until the normalizer has no lag and the outbox nothing pending (``url``:
    the worker, where they run; the front has neither gauge)."""
    deadline = time.monotonic() + 300
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < deadline:
            text = (await client.get(f"{url}/metrics")).text
            lag = _gauge(text, 'crm_consumer_lag_records{consumer="ingest-normalizer"}')
            pending = _gauge(text, 'crm_outbox_pending_rows{schema="ingest"}')
            if lag == 0 and pending == 0:
                return
            await asyncio.sleep(0.5)


def _gauge(text: str, name: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(name):
            return float(line.rsplit(" ", 1)[1])
    return None


async def _normalizer(env: BenchEnv, worker_url: str, limit: float) -> tuple[list[Row], int]:
    await _drained(worker_url)
    records, expected = _raw_records(scale(10_000))
    topic = env.kafka.topic("crm.events.v1")
    reader = AIOKafkaConsumer(bootstrap_servers=env.kafka.bootstrap_servers, group_id=None)
    await reader.start()
    producer = Producer(env.kafka, client_id="bench-ingest")
    await producer.start()
    try:
        partitions = await partitions_of(env.kafka.bootstrap_servers, topic)
        reader.assign(partitions)
        for tp, end in (await reader.end_offsets(partitions)).items():
            reader.seek(tp, end)
        started = time.perf_counter()
        raw_topic = env.kafka.topic("crm.raw.v1")
        await producer.send_many((raw_topic, key, value, None) for key, value in records)
        seen, deadline = 0, time.monotonic() + 600
        while seen < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"normalizer: {seen} of {expected} events in 600 s")
            batches = await reader.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(
                1 for rs in batches.values() for r in rs if b'"tenant_id":"bench-norm"' in r.value
            )
        rate = seen / (time.perf_counter() - started)
    finally:
        await producer.stop()
        await reader.stop()
    return [Row(STAGE, "normalizer_events", round(rate, 1), "events/s", rate / limit)], expected


def _raw_records(count: int) -> tuple[list[tuple[str, bytes]], int]:
    """``count`` raw records of a shop's history, and how many events the normalizer
    publishes for them: one per fact (a customer restated unchanged by a later
    webhook is the same fact, published once)."""
    from crm_ingest.domain.facts import first_news, tellings
    from crm_ingest.normalizer import make_decoder

    decode = make_decoder()
    history = Shop(11, customers=max(1, count // 3), days=365).webhooks()[:count]
    records, facts = [], []
    for i, w in enumerate(history):
        record = RawRecord(
            tenant_id="bench-norm",
            currency="JPY",
            timezone="Asia/Tokyo",
            shop_domain="bench-norm.myshopify.com",
            topic=w.topic,
            webhook_id=f"norm-{i}",
            received_at=datetime.now(UTC),
            body=orjson.dumps(w.body),
            headers={},
        )
        value = record.to_bytes()
        facts += [tellings(e, e.received_at) for e in decode(value).events]
        records.append((f"bench-norm:{i % 500}", value))
    every_id = {e.event_id for group in facts for e in group}
    return records, len(first_news(facts, every_id))


def _customers_csv(rows: int) -> bytes:
    lines = ["会員ID,メールアドレス,姓,名,電話番号,都道府県,郵便番号"]
    for i in range(rows):
        lines.append(f"C{i},user{i}@example.jp,山田,太郎,090{i:08d},東京都,100-0001")
    return ("\n".join(lines) + "\n").encode("cp932")


def _rss_mb(pid: int, field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak so far) of a process, in MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


async def _import(url: str, tenant: dict[str, Any], kind: str, path: Path) -> tuple[Any, float]:
    """Upload ``path`` (streamed) and wait for the import; its report and rows/s."""
    headers = {"Authorization": f"Bearer {tenant['api_key']}", "X-Cart-Platform": "makeshop"}

    async def chunks() -> Any:
        with path.open("rb") as f:
            while chunk := await asyncio.to_thread(f.read, 1024 * 1024):
                yield chunk

    async with httpx.AsyncClient(timeout=600) as client:
        started = time.perf_counter()
        created = await client.post(
            f"{url}/v1/imports?kind={kind}&encoding=shift_jis", content=chunks(), headers=headers
        )
        import_id = created.json()["import_id"]
        while True:
            report = (await client.get(f"{url}/v1/imports/{import_id}", headers=headers)).json()
            if report["status"] in ("completed", "failed"):
                break
            await asyncio.sleep(0.25)
        rate = report["progress"]["rows_read"] / (time.perf_counter() - started)
    if report["status"] != "completed":
        raise RuntimeError(f"bench import failed: {report['error']}")
    return report, rate


async def _csv_import(
    url: str, worker_url: str, tenant: dict[str, Any], limit: float, pids: dict[str, int]
) -> list[Row]:
    """An orders export (``BENCH_CSV_ROWS`` rows, default scale(200,000): one line item
    per row, :mod:`bench.orders_csv`) and a customers file of half as many rows, both
    Shift_JIS, through the API.

    The memory rows show that the import streams: the worker's peak RSS after the
    orders import next to its RSS before it (a file loaded whole would add its size).
    """
    rows = int(os.environ.get("BENCH_CSV_ROWS", scale(200_000)))
    work = Path(tempfile.mkdtemp(prefix="crm-bench-csv-"))
    try:
        orders = await asyncio.to_thread(
            write_history,
            work / "orders.csv",
            orders=max(1, rows * 3 // 5),
            customers=max(1, rows // 6),
        )
        customers = work / "customers.csv"
        await asyncio.to_thread(customers.write_bytes, _customers_csv(max(1, rows // 2)))
        before = {name: _rss_mb(pid, "VmRSS") for name, pid in pids.items()}
        cpu = _cpu(pids)
        _, rate = await _import(url, tenant, "orders", orders.path)
        peaks = {name: _rss_mb(pid, "VmHWM") for name, pid in pids.items()}
        await _drained(worker_url)  # and its events published
        spent = _cpu_row("csv_import", cpu, pids, orders.rows, "order row")
        _, customer_rate = await _import(url, tenant, "customers", customers)
    finally:
        await asyncio.to_thread(shutil.rmtree, work, True)
    memory = []
    for name in pids:
        memory += [
            Row(STAGE, f"csv_{name}_rss_before", before[name], "MB"),
            Row(STAGE, f"csv_{name}_rss_peak", peaks[name], "MB"),
        ]
    size = round(orders.bytes / 1e6, 1)
    return [
        Row(STAGE, "csv_import_rows", round(rate, 1), "rows/s", rate / limit),
        Row(STAGE, "csv_import_file", orders.rows, f"order rows ({size} MB, Shift_JIS)"),
        spent,
        Row(STAGE, "csv_customers_rows", round(customer_rate, 1), "rows/s", customer_rate / limit),
        *memory,
    ]


def _cpu(pids: dict[str, int]) -> float:
    """CPU seconds the front and the worker have used so far."""
    return sum(_cpu_seconds(pid) for pid in pids.values())


def _cpu_row(name: str, before: float, pids: dict[str, int], units: float, unit: str) -> Row:
    """CPU of the front and worker per unit of a phase: what a loaded machine does not
    change as much as it changes rates."""
    spent = (_cpu(pids) - before) / max(1.0, units) * 1e6
    return Row(STAGE, f"{name}_cpu", round(spent, 1), f"us CPU per {unit} (front + worker)")


async def run(env: BenchEnv, limits: dict[str, float]) -> list[Row]:
    """Generic batches, the normalizer, a CSV import."""
    limit = limits["kafka_produce_1kb"]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    # As deployed by `make up`: the HTTP front (role api) and the normalizer, outbox
    # relay and CSV import worker (role worker) in separate processes, so answers
    # never queue behind batches.
    worker_port = _free_port()
    worker = await _start(
        {**_env(env, worker_port), "INGEST_ROLE": "worker"}, f"http://127.0.0.1:{worker_port}"
    )
    proc = await _start({**_env(env, port), "INGEST_ROLE": "api"}, url)
    worker_url = f"http://127.0.0.1:{worker_port}"
    pids = {"api": proc.pid, "worker": worker.pid}
    try:
        tenant = await _tenant(url)
        await _drained(worker_url)
        cpu = _cpu(pids)
        rows, events = await _batches(url, tenant, limit)
        await _drained(worker_url)  # the relay's share of the batches too
        rows.append(_cpu_row("generic_batch", cpu, pids, events, "event"))
        cpu = _cpu(pids)
        found, events = await _normalizer(env, worker_url, limit)
        rows += [*found, _cpu_row("normalizer", cpu, pids, events, "event")]
        rows += await _csv_import(url, worker_url, tenant, limit, pids)
    finally:
        for p in (proc, worker):
            p.terminate()
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        spool = _env(env, port)["INGEST_IMPORT_SPOOL_DIR"]
        await asyncio.to_thread(shutil.rmtree, spool, True)  # the run's own directory
    for r in rows:
        ratio = "" if r.limit_ratio is None else f"  ({r.limit_ratio:.3f} of kafka_produce_1kb)"
        print(f"  {r.metric:<24} {r.value:>12,.1f} {r.unit}{ratio}", flush=True)
    return [
        Row(
            r.stage,
            r.metric,
            r.value,
            r.unit,
            None if r.limit_ratio is None else round(r.limit_ratio, 4),
        )
        for r in rows
    ]
