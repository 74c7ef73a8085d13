"""Webhook front stage: ingest's ``POST /webhooks/shopify`` (role api, as `make up` runs
it) against its peer, a dozen-line FastAPI + aiokafka endpoint (bench/peer.py: HMAC,
acks=all, awaited), loaded the same way in the same run by Debian's ``wrk``.

For 1 and 2 uvicorn workers (``INGEST_WORKERS``; the peer gets the same), both
servers are started side by side and warmed up, then loaded at 1 (one worker only), 16
and 64 connections, each for ``BENCH_FRONT_SECONDS`` (default scale(15)) in
``BENCH_FRONT_ROUNDS`` (3) alternating rounds (peer, ours, ours, peer, ...): a
neighbour's burst on a shared machine lands on both. requests/s is over all rounds,
p50 and p99 the median of the rounds'. A Lua script signs 64 realistic ``orders/create`` bodies
once (the HMAC covers only the body) and sends them in turn, each request under a fresh
``X-Shopify-Webhook-Id``. Rows per level: requests/s, p50, p99, server CPU per
request (the server's processes, from /proc) and the client's CPU in % of one core
(a saturated client would show here). ``webhook_rps`` has the peer's requests/s as its
limit (goal >= 0.8), ``webhook_p99`` the peer's p99 (goal <= 2). Every run must answer
only 200s, and the topic must have grown by at least the 200s counted (every 200 was
acknowledged). The ingest worker role (normalizer) is not running: the stage measures
the front alone, as the peer is alone.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil
from aiokafka import AIOKafkaConsumer

from bench.common import BenchEnv, Row, scale
from crm_common.kafka import ensure_topics
from crm_ingest.loadgen_shop import Shop
from crm_ingest.topics import partitions_of

STAGE = "front"
ADMIN = "bench-admin-token"
SHOP, SECRET = "bench-front.myshopify.com", "bench-front-webhook-secret"
ROOT = Path(__file__).resolve().parents[1]
BODIES = 64


@dataclass
class Load:
    """One wrk run against one server, or several added up (:func:`combined`)."""

    rps: float
    p50_ms: float
    p99_ms: float
    ok: int
    cpu_us_per_request: float
    client_cpu_percent: float
    seconds: float


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    topic: str

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and every process under it (its workers)."""
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        return total

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def ensure_wrk() -> str:
    """Debian's wrk, installed through apt once per machine (as `make browser` does)."""
    found = shutil.which("wrk")
    if found:
        return found
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "wrk"],
        check=True,
        env=env,
    )
    return shutil.which("wrk") or "wrk"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sign(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def _bodies() -> list[bytes]:
    """``orders/create`` bodies of different customers (so keys spread over partitions)."""
    orders = [w for w in Shop(13, customers=400, days=365).webhooks() if w.topic == "orders/create"]
    return [orjson.dumps(w.body) for w in orders[:BODIES]]


def _lua_string(data: bytes) -> str:
    out = []
    for b in data:
        ch = chr(b)
        out.append(ch if 32 <= b < 127 and ch not in '"\\' else f"\\{b:03d}")
    return '"' + "".join(out) + '"'


def lua_script(bodies: list[bytes], run: str) -> str:
    """wrk script: the signed bodies in turn, a fresh webhook id per request, and a
    JSON summary line (latency in microseconds) printed by ``done``."""
    entries = ",\n".join(
        f"  {{{_lua_string(b)}, {_lua_string(_sign(b).encode())}}}" for b in bodies
    )
    return f"""
local bodies = {{
{entries}
}}
local n = #bodies
local counter = 0
local threads = 0
local headers = {{
  ["Content-Type"] = "application/json",
  ["X-Shopify-Shop-Domain"] = "{SHOP}",
  ["X-Shopify-Topic"] = "orders/create",
  ["X-Shopify-API-Version"] = "2024-10",
  ["X-Shopify-Triggered-At"] = "2026-06-01T02:59:58.123Z",
}}

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function request()
  counter = counter + 1
  local entry = bodies[counter % n + 1]
  local id = string.format("{run}-%d-%d", tid, counter)
  headers["X-Shopify-Hmac-Sha256"] = entry[2]
  headers["X-Shopify-Webhook-Id"] = id
  headers["X-Shopify-Event-Id"] = id
  return wrk.format("POST", "/webhooks/shopify", headers, entry[1])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRKJSON {{"requests":%d,"duration_us":%d,"p50":%d,"p99":%d,"status_errors":%d,'
    .. '"socket_errors":%d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _wrk_once(
    url: str, connections: int, seconds: int, script: Path
) -> tuple[dict[str, Any], float]:
    threads = 1 if connections == 1 else 2
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    out = subprocess.run(
        [
            ensure_wrk(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"{url}/webhooks/shopify",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON ")), 100 * cpu / wall


async def _end_offsets(bootstrap: str, topic: str) -> int:
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    try:
        partitions = await partitions_of(bootstrap, topic)
        return sum((await reader.end_offsets(partitions)).values())
    finally:
        await reader.stop()


async def load(
    env: BenchEnv, server: Server, bodies: list[bytes], connections: int, seconds: int
) -> Load:
    """One wrk run; raises unless every answer was 200 and every 200 is on the topic."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "webhooks.lua"
        script.write_text(lua_script(bodies, f"{server.name}-{uuid.uuid4().hex[:8]}"))
        stored_before = await _end_offsets(env.kafka.bootstrap_servers, server.topic)
        cpu_before = server.cpu_seconds()
        result, client_cpu = await asyncio.to_thread(
            _wrk_once, server.url, connections, seconds, script
        )
        cpu = server.cpu_seconds() - cpu_before
        stored = await _end_offsets(env.kafka.bootstrap_servers, server.topic) - stored_before
    requests = int(result["requests"])
    bad = int(result["status_errors"]) + int(result["socket_errors"])
    if bad or requests == 0:
        raise RuntimeError(f"{server.name} at c{connections}: {bad} errors in {requests}")
    if stored < requests:
        raise RuntimeError(f"{server.name}: {requests} answered 200, {stored} on the topic")
    return Load(
        rps=round(requests / (result["duration_us"] / 1e6), 1),
        p50_ms=round(result["p50"] / 1000, 2),
        p99_ms=round(result["p99"] / 1000, 2),
        ok=requests,
        cpu_us_per_request=round(1e6 * cpu / requests, 1),
        client_cpu_percent=round(client_cpu, 1),
        seconds=result["duration_us"] / 1e6,
    )


def combined(runs: list[Load]) -> Load:
    """Rounds of one server: requests over time, median p50/p99, CPU per request."""
    requests, seconds = sum(r.ok for r in runs), sum(r.seconds for r in runs)
    cpu = sum(r.cpu_us_per_request * r.ok for r in runs) / requests
    return Load(
        rps=round(requests / seconds, 1),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        ok=requests,
        cpu_us_per_request=round(cpu, 1),
        client_cpu_percent=max(r.client_cpu_percent for r in runs),
        seconds=round(seconds, 1),
    )


async def compare(
    env: BenchEnv, ours: Server, peer: Server, bodies: list[bytes], connections: int
) -> tuple[Load, Load]:
    """Both servers in alternating rounds (peer first, then ours first, ...), so a
    neighbour's burst on this shared machine lands on both."""
    rounds = int(os.environ.get("BENCH_FRONT_ROUNDS", "3"))
    seconds = max(1, int(os.environ.get("BENCH_FRONT_SECONDS", scale(15))) // rounds)
    runs: dict[str, list[Load]] = {ours.name: [], peer.name: []}
    for i in range(rounds):
        for server in (peer, ours) if i % 2 == 0 else (ours, peer):
            runs[server.name].append(await load(env, server, bodies, connections, seconds))
    return combined(runs[ours.name]), combined(runs[peer.name])


def _ingest_env(env: BenchEnv, port: int, workers: int) -> dict[str, str]:
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
        "INGEST_ROLE": "api",
        "INGEST_WORKERS": str(workers),
        "INGEST_ADMIN_TOKEN": ADMIN,
        "CRM_DEV_MODE": "1",
        "LOG_LEVEL": "INFO",  # as deployed: nothing per request may reach the log
    }


def _spawn(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


async def _wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{url} exited; see {log}")
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{url} did not become ready")


async def start_ingest(env: BenchEnv, workers: int, logs: Path) -> Server:
    port = _free_port()
    ingest_env = _ingest_env(env, port, workers)
    await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "crm_ingest", "migrate"], env=ingest_env, check=True
    )
    log = logs / f"ingest-w{workers}.log"
    proc = _spawn([sys.executable, "-m", "crm_ingest", "serve"], ingest_env, log)
    url = f"http://127.0.0.1:{port}"
    await _wait_ready(proc, f"{url}/readyz", log)
    return Server("ingest", proc, url, env.kafka.topic("crm.raw.v1"))


async def start_peer(env: BenchEnv, workers: int, logs: Path) -> Server:
    port = _free_port()
    topic = env.kafka.topic("bench.peer.raw")
    await ensure_topics(env.kafka, ["bench.peer.raw"])
    peer_env = {
        **os.environ,
        "PEER_BOOTSTRAP": env.kafka.bootstrap_servers,
        "PEER_TOPIC": topic,
        "PEER_SECRET": SECRET,
    }
    cmd = [sys.executable, "-m", "uvicorn", "bench.peer:app", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    cmd += ["--log-level", "warning"]
    log = logs / f"peer-w{workers}.log"
    proc = _spawn(cmd, peer_env, log)
    url = f"http://127.0.0.1:{port}"
    await _wait_ready(proc, f"{url}/openapi.json", log)
    return Server("peer", proc, url, topic)


async def _tenant(url: str) -> None:
    body = {"name": "bench front", "shop_domains": [SHOP], "webhook_secrets": [SECRET]}
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            f"{url}/admin/tenants", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
        )
    if response.status_code not in (201, 409):
        raise RuntimeError(f"tenant: {response.status_code} {response.text}")


def _rows(workers: int, connections: int, ours: Load, peer: Load) -> list[Row]:
    tag = f"c{connections}_w{workers}"
    client = max(ours.client_cpu_percent, peer.client_cpu_percent)
    return [
        Row(STAGE, f"webhook_rps_{tag}", ours.rps, "requests/s (limit: peer)", ours.rps / peer.rps),
        Row(STAGE, f"webhook_p50_{tag}", ours.p50_ms, "ms"),
        Row(
            STAGE,
            f"webhook_p99_{tag}",
            ours.p99_ms,
            "ms (limit: peer p99)",
            ours.p99_ms / peer.p99_ms,
        ),
        Row(STAGE, f"webhook_cpu_{tag}", ours.cpu_us_per_request, "us CPU/request"),
        Row(STAGE, f"peer_rps_{tag}", peer.rps, "requests/s"),
        Row(STAGE, f"peer_p50_{tag}", peer.p50_ms, "ms"),
        Row(STAGE, f"peer_p99_{tag}", peer.p99_ms, "ms"),
        Row(STAGE, f"peer_cpu_{tag}", peer.cpu_us_per_request, "us CPU/request"),
        Row(STAGE, f"wrk_cpu_{tag}", client, "% of a core (client, max of both)"),
    ]


def _plan() -> list[tuple[int, tuple[int, ...]]]:
    workers = [int(w) for w in os.environ.get("BENCH_FRONT_WORKERS", "1,2").split(",")]
    return [(w, (1, 16, 64) if w == 1 else (16, 64)) for w in workers]


async def run(env: BenchEnv, limits: dict[str, float]) -> list[Row]:
    """Ingest's webhook front and the peer, 1 and 2 workers, 1/16/64 connections."""
    await asyncio.to_thread(ensure_wrk)
    bodies = _bodies()
    rows = [Row(STAGE, "loadavg_1m_at_start", round(os.getloadavg()[0], 2), "runnable tasks")]
    logs = Path(tempfile.mkdtemp(prefix="crm-bench-front-"))
    for workers, levels in _plan():
        ours = await start_ingest(env, workers, logs)
        try:
            peer = await start_peer(env, workers, logs)
            try:
                await _tenant(ours.url)
                for server in (peer, ours):  # warm-up: connections, caches, workers
                    await load(env, server, bodies, 16, 2)
                for connections in levels:
                    o, p = await compare(env, ours, peer, bodies, connections)
                    rows += _rows(workers, connections, o, p)
                    print(f"  w{workers} c{connections}: ours {o}\n  {'':>7} peer {p}", flush=True)
            finally:
                peer.stop()
        finally:
            ours.stop()
    shutil.rmtree(logs, ignore_errors=True)
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
