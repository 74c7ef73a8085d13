"""``make chaos`` / ``python -m crm_localstack.chaos --minutes 10 --seed 7``.

Starts its own cluster (three brokers, two processes of every service; its own ports
and folder, so neither ``make up`` nor ``make cluster`` is touched), the SMTP and
SMS/LINE sinks, then runs the load and the fault schedule side by side, lets the
system settle, checks, prints ``lost N, duplicated N`` per stage and the fault log,
stops the cluster, and exits 1 when any stage lost or doubled anything.
"""

from __future__ import annotations

import asyncio
import random
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from crm_localstack import cluster, services
from crm_localstack.chaos.check import Checker, Stage
from crm_localstack.chaos.faults import Faults
from crm_localstack.chaos.load import Load
from crm_localstack.chaos.sinks import ProviderSink, SmtpSink
from crm_localstack.paths import Paths, repo_root

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


class Log:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("a", encoding="utf-8")
        self.lock = threading.Lock()

    def __call__(self, text: str) -> None:
        line = f"{datetime.now(UTC).strftime('%H:%M:%S')} {text}"
        with self.lock:
            print(line, flush=True)
            self.file.write(line + "\n")
            self.file.flush()


@app.command()
def main(
    minutes: Annotated[float, typer.Option(help="length of the load and fault phase")] = 10.0,
    seed: Annotated[int, typer.Option(help="seeds the shop and the fault schedule")] = 7,
    customers: Annotated[int, typer.Option(help="customers of the shop (0: by minutes)")] = 0,
    settle: Annotated[float, typer.Option(help="seconds allowed to converge after")] = 300.0,
    short: Annotated[bool, typer.Option(help="fewer faults (no controller kill)")] = False,
    folder: Annotated[Path | None, typer.Option("--dir", help="default .local/chaos")] = None,
    kafka_port: int = 29192,
    postgres_port: int = 25433,
    port_base: int = 28100,
    keep: Annotated[bool, typer.Option(help="leave the cluster running afterwards")] = False,
) -> None:
    """Load + seeded faults on a cluster, then the invariant checker."""
    base = folder or Paths(repo_root()).local / "chaos"
    cs = cluster.ClusterSettings(
        dir=base, kafka_port=kafka_port, postgres_port=postgres_port, port_base=port_base
    )
    log = Log(base / "chaos.log")
    stages = run(cs, log, minutes * 60, seed, customers or int(minutes * 60), settle, short, keep)
    raise typer.Exit(0 if all(s.ok for s in stages) else 1)


def run(
    cs: cluster.ClusterSettings,
    log: Log,
    seconds: float,
    seed: int,
    customers: int,
    settle: float,
    short: bool,
    keep: bool,
) -> list[Stage]:
    smtp, provider = SmtpSink(), ProviderSink()
    smtp.start()
    provider.start()
    extra = {
        "KAFKA_TOPIC_PREFIX": "",
        "MESSAGING_SMTP_PORT": str(smtp.port),
        "MESSAGING_SMS_API_URL": provider.url,
        "MESSAGING_LINE_API_URL": provider.url,
        "MESSAGING_DEFAULT_FROM_ADDRESS": "shop@chaos.example.jp",
        "SEGMENT_SWEEP_SECONDS": "5",
        # A send claimed by a process that was then killed is taken over after its
        # lease: shorter than the default 120 s so a short run settles in time.
        "MESSAGING_LEASE_SECONDS": "30",
    }
    try:
        log(
            f"chaos: seed {seed}, {seconds:.0f}s of load, {customers} customers; cluster in "
            f"{cs.paths().local} (brokers {cs.bootstrap}, PostgreSQL {cs.postgres_port})"
        )
        keys = cluster.up(cs, 600, extra)
        log("cluster ready: " + ", ".join(x.record for x in cs.processes()))
        faults = Faults(cs, keys, extra, random.Random(seed), log)
        load = _load(cs, keys, seed, customers, log)
        thread = threading.Thread(target=faults.run, args=(seconds, not short), daemon=True)
        thread.start()
        try:
            asyncio.run(load.run(seconds))
        finally:
            faults.stop.set()
            thread.join(120)
        _bring_back(cs, faults, log)
        checker = Checker(
            load.record,
            cs.bootstrap,
            cs.url("profile"),
            cs.url("segment", 2),
            cs.url("messaging"),
            smtp,
        )
        stages = _settle(checker, settle, log)
        stages.insert(0, _readiness(cs, log))
        log("faults: " + ("; ".join(faults.done) or "none"))
        for stage in stages:
            log(stage.line())
        return stages
    finally:
        if not keep:
            stopped = cluster.down(cs)
            log(f"cluster stopped ({len(stopped)} processes)")
        smtp.stop()
        provider.stop()


def _load(
    cs: cluster.ClusterSettings, keys: dict[str, str], seed: int, customers: int, log: Log
) -> Load:
    return Load(
        fronts=[x.url for x in cs.processes() if x.name == "ingest"],
        messaging=cs.url("messaging", 2),
        segment=cs.url("segment"),
        admin_token=keys["INGEST_ADMIN_TOKEN"],
        seed=seed,
        customers=customers,
        log=log,
    )


def _bring_back(cs: cluster.ClusterSettings, faults: Faults, log: Log) -> None:
    """A fault cut short by the end of the load leaves nothing down."""
    for node in cs.node_ids:
        if cluster.start_broker(cs, node):
            log(f"  restarted broker {node} (end of run)")
    for proc in cs.processes():
        if not cluster.process_running(cs, proc.record):
            faults.restart(proc.record)


def _readiness(cs: cluster.ClusterSettings, log: Log, within: float = 180.0) -> Stage:
    """Every process answers /readyz 200 without being restarted by us (no dead
    consumers, Postgres and Kafka found again on their own)."""
    stage = Stage("readiness")
    deadline = time.monotonic() + within
    waiting = list(cs.processes())
    while waiting and time.monotonic() < deadline:
        waiting = [x for x in waiting if not services.answers(x.url)]
        time.sleep(2)
    stage.lost += [f"{x.record} /readyz not 200" for x in waiting]
    stage.checked = f"{len(cs.processes())} processes"
    return stage


def _settle(checker: Checker, within: float, log: Log) -> list[Stage]:
    deadline = time.monotonic() + within
    while True:
        try:
            stages = asyncio.run(checker.stages())
        except Exception as exc:  # a service still starting: look again
            log(f"check: {exc!r}")
            stages = [Stage("check", lost=[repr(exc)])]
        summary = ", ".join(f"{s.name} {len(s.lost)}/{len(s.duplicated)}" for s in stages)
        if all(s.ok for s in stages) or time.monotonic() > deadline:
            log(f"settled: {summary}" if all(s.ok for s in stages) else f"gave up: {summary}")
            return stages
        log(f"converging (lost/duplicated): {summary}")
        time.sleep(10)


if __name__ == "__main__":
    sys.exit(app())
