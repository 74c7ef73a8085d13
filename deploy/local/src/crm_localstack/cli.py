"""``crm-stack``: start, stop and inspect the local stack (what ``make up`` runs)."""

from __future__ import annotations

import os
import subprocess
from typing import Annotated

import typer

from crm_common.settings import KafkaSettings, PostgresSettings
from crm_localstack import cluster, kafka, postgres, procs, secrets, services
from crm_localstack.paths import Paths, paths

app = typer.Typer(
    pretty_exceptions_enable=False,
    help="Local stack: real Kafka and PostgreSQL, and the services, without Docker.",
)

Timeout = Annotated[float, typer.Option(help="seconds to wait for readiness")]
Cluster = Annotated[
    bool,
    typer.Option(
        "--cluster",
        help="the cluster (3 brokers, 2 processes per service, own ports: CRM_CLUSTER_*)",
    ),
]


def _infra_up(p: Paths, timeout: float) -> None:
    p.ensure()
    ks, pg = KafkaSettings(), PostgresSettings()
    started_pg = postgres.start(p, pg.port)
    started_kafka = kafka.start(p, ks.bootstrap_servers)
    procs.wait_until(lambda: postgres.ready(pg.port), timeout, "PostgreSQL")
    postgres.ensure_database(pg.port, pg.database)
    procs.wait_until(lambda: kafka.ready(ks.bootstrap_servers), timeout, "Kafka")
    print(f"postgres  {'started' if started_pg else 'already running'}  {pg.url('postgresql')}")
    print(f"kafka     {'started' if started_kafka else 'already running'}  {ks.bootstrap_servers}")


@app.command()
def infra(timeout: Timeout = 180) -> None:
    """Start Kafka and PostgreSQL (idempotent) and wait until both answer."""
    _infra_up(paths(), timeout)


@app.command()
def up(timeout: Timeout = 180, in_cluster: Cluster = False) -> None:
    """Start Kafka, PostgreSQL, run migrations, start every service, wait for /readyz."""
    if in_cluster:
        _cluster_up(timeout)
        return
    p = paths()
    _infra_up(p, timeout)
    keys = secrets.ensure(p)  # first: ingest's migrations seal with INGEST_SECRETS_KEY
    for name in services.SERVICES:
        if not services.is_running(p, name):
            services.migrate(name, secrets.held_by(name, keys))
    started = {
        name: services.start(p, name, secrets.held_by(services.service_of(name), keys))
        for name in services.PROCESSES
    }
    for name in services.PROCESSES:
        try:
            procs.wait_until(lambda n=name: services.ready(n), timeout, f"{name} /readyz")
        except TimeoutError:
            print(f"{name} did not become ready; last log lines:")
            print(_tail(p.logs / f"{name}.log", 30))
            raise
    for name in services.PROCESSES:
        state = "started" if started[name] else "already running"
        print(f"{name:<14}{state:<17}{services.url_of(name)}  (docs: /docs, metrics: /metrics)")
    print(f"\nconsole: {services.url_of('dashboard')}/")
    print(f"admin token (INGEST_ADMIN_TOKEN): {keys['INGEST_ADMIN_TOKEN']}")
    print(f"secrets: {secrets.secrets_file(p)} (mode 0600; delete it to rotate)")


def _cluster_up(timeout: float) -> None:
    cs = cluster.ClusterSettings()
    keys = cluster.up(cs, timeout)
    print(f"kafka         {cs.brokers} brokers   {cs.bootstrap}")
    print(f"  replication factor {cs.replication}, min.insync.replicas 2 (KRaft, 3 voters)")
    print(f"postgres      127.0.0.1:{cs.postgres_port}  database {cluster.DATABASE}")
    for proc in cs.processes():
        print(f"{proc.record:<18}{proc.url}")
    fronts = [x.url for x in cs.processes() if x.name == "ingest"]
    print(f"\nwebhook fronts: {', '.join(fronts)}")
    print(f"console: {cs.url('dashboard')}/")
    print(f"admin token (INGEST_ADMIN_TOKEN): {keys['INGEST_ADMIN_TOKEN']}")
    print(f"secrets: {secrets.secrets_file(cs.paths())}; logs: {cs.paths().logs}")


@app.command()
def down(in_cluster: Cluster = False) -> None:
    """Stop every process this stack and the cluster started (by recorded pid),
    services first; with --cluster only the cluster."""
    for name in cluster.down(cluster.ClusterSettings()):
        print(f"{name:<18}stopped (cluster)")
    if in_cluster:
        return
    p = paths()
    for name in reversed(services.PROCESSES):
        if services.stop(p, name):
            print(f"{name:<10}stopped")
    if kafka.stop(p):
        print("kafka     stopped")
    if postgres.stop(p):
        print("postgres  stopped")


@app.command("infra-down")
def infra_down() -> None:
    """Stop Kafka and PostgreSQL only."""
    p = paths()
    kafka.stop(p)
    postgres.stop(p)


@app.command()
def status(in_cluster: Cluster = False) -> None:
    """What runs, and whether it answers. Exit code 0 only when everything is ready."""
    if in_cluster:
        _print_rows(cluster.status_rows(cluster.ClusterSettings()))
    p = paths()
    ks, pg = KafkaSettings(), PostgresSettings()
    rows = [
        ("postgres", postgres.is_running(p), postgres.ready(pg.port), pg.url("postgresql")),
        ("kafka", kafka.is_running(p), kafka.ready(ks.bootstrap_servers), ks.bootstrap_servers),
    ]
    for name in services.PROCESSES:
        rows.append(
            (name, services.is_running(p, name), services.ready(name), services.url_of(name))
        )
    _print_rows(rows)


def _print_rows(rows: list[tuple[str, bool, bool, str]]) -> None:
    ok = True
    for name, running, ready, where in rows:
        state = "ready" if ready else ("starting" if running else "stopped")
        ok = ok and ready
        print(f"{name:<18}{state:<10}{where}")
    raise typer.Exit(0 if ok else 1)


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="service name, kafka or postgres")] = "",
    lines: int = 50,
    in_cluster: Cluster = False,
) -> None:
    """Print the last lines of one log, or of every log."""
    p = cluster.ClusterSettings().paths() if in_cluster else paths()
    names = [name] if name else ["postgres", "kafka", *services.PROCESSES]
    if in_cluster and not name:
        cs = cluster.ClusterSettings()
        names = ["postgres", *map(cluster.broker_record, cs.node_ids)]
        names += [x.record for x in cs.processes()]
    for n in names:
        print(f"==> {p.logs / (n + '.log')} <==")
        print(_tail(p.logs / f"{n}.log", lines))


def _tail(path: os.PathLike[str], lines: int) -> str:
    try:
        return subprocess.run(
            ["tail", "-n", str(lines), str(path)], capture_output=True, text=True
        ).stdout
    except OSError:
        return ""


if __name__ == "__main__":
    app()
