"""Cluster mode on one machine (``make cluster`` / ``make up CLUSTER=1``).

Three Kafka brokers in KRaft mode (each broker + controller, a three-voter quorum;
replication factor 3, ``min.insync.replicas=2``), one PostgreSQL, and two processes
of every service: the two processes of a service share its consumer groups (Kafka
splits the partitions between them), and ingest has two webhook fronts on two
ports. Everything lives in its own folder (``.local/cluster``) and on its own ports,
so it runs beside the single stack of ``make up`` without touching it.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from crm_common.settings import SERVICE_PORTS, KafkaSettings
from crm_localstack import kafka, postgres, procs, secrets, services
from crm_localstack.paths import Paths, repo_root

DATABASE = "crm"


class ClusterSettings(BaseSettings):
    """Where the cluster runs (environment: ``CRM_CLUSTER_*``)."""

    model_config = SettingsConfigDict(env_prefix="CRM_CLUSTER_", extra="ignore")

    dir: Path | None = None  # default .local/cluster
    kafka_port: int = 19192  # brokers on kafka_port.., their controllers 10 above
    postgres_port: int = 15433
    port_base: int = 18100  # replica r of a service: port_base + 20 (r - 1) + its offset
    brokers: int = Field(default=3, ge=1, le=9)
    replicas: int = Field(default=2, ge=1, le=4)
    broker_heap_mb: int = Field(default=384, ge=128)

    def paths(self) -> Paths:
        root = repo_root()
        if self.dir is not None:
            return Paths(root, self.dir)
        return Paths(root, Paths(root).local / "cluster")

    @property
    def node_ids(self) -> range:
        return range(1, self.brokers + 1)

    def broker_port(self, node: int) -> int:
        return self.kafka_port + node - 1

    def controller_port(self, node: int) -> int:
        return self.kafka_port + 10 + node - 1

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.broker_port(n)}" for n in self.node_ids)

    @property
    def replication(self) -> int:
        return min(3, self.brokers)

    def kafka_settings(self) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers=self.bootstrap, replication_factor=self.replication)

    def processes(self) -> list[Process]:
        """Every service process, replica by replica (``ingest-1``, ``ingest-2`` ...)."""
        return [
            Process(name, replica, self._port(name, replica))
            for replica in range(1, self.replicas + 1)
            for name in services.PROCESSES
        ]

    def process(self, record: str) -> Process:
        return next(p for p in self.processes() if p.record == record)

    def _port(self, name: str, replica: int) -> int:
        offset = SERVICE_PORTS[services.service_of(name)] - 8000
        offset += 10 if name.endswith("-worker") else 0
        return self.port_base + 20 * (replica - 1) + offset

    def url(self, name: str, replica: int = 1) -> str:
        return f"http://127.0.0.1:{self._port(name, replica)}"

    def env(self) -> dict[str, str]:
        """What every process of the cluster is given (engines, replication)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_REPLICATION_FACTOR": str(self.replication),
            "POSTGRES_HOST": "127.0.0.1",
            "POSTGRES_PORT": str(self.postgres_port),
            "POSTGRES_USER": "postgres",  # the cluster's own server: trust on 127.0.0.1
            "POSTGRES_PASSWORD": "",
            "POSTGRES_DATABASE": DATABASE,
        }


@dataclass(frozen=True)
class Process:
    name: str  # one of services.PROCESSES
    replica: int
    port: int

    @property
    def record(self) -> str:
        return f"{self.name}-{self.replica}"

    @property
    def service(self) -> str:
        return services.service_of(self.name)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# -- brokers -----------------------------------------------------------------


def broker_record(node: int) -> str:
    return f"kafka-{node}"


def _node_dir(cs: ClusterSettings, node: int) -> Path:
    return cs.paths().local / "kafka" / f"node-{node}"


def _write_broker_configs(cs: ClusterSettings) -> None:
    voters = ",".join(f"{n}@127.0.0.1:{cs.controller_port(n)}" for n in cs.node_ids)
    for node in cs.node_ids:
        folder = _node_dir(cs, node)
        folder.mkdir(parents=True, exist_ok=True)
        text = kafka.properties(
            node_id=node,
            port=cs.broker_port(node),
            controller_port=cs.controller_port(node),
            voters=voters,
            data_dir=folder / "data",
            replication=cs.replication,
        )
        (folder / "server.properties").write_text(text)


def _format_brokers(cs: ClusterSettings) -> None:
    p = cs.paths()
    id_file = p.local / "kafka" / "cluster.id"
    if not id_file.exists():
        id_file.write_text(kafka.random_cluster_id(p))
    cluster_id = id_file.read_text().strip()
    for node in cs.node_ids:
        folder = _node_dir(cs, node)
        if not (folder / "data" / "meta.properties").exists():
            kafka.format_dir(p, cluster_id, folder / "server.properties")


def start_broker(cs: ClusterSettings, node: int) -> bool:
    """Start broker ``node`` unless it runs; True if this call started it."""
    p = cs.paths()
    if broker_running(cs, node):
        return False
    config = _node_dir(cs, node) / "server.properties"
    cmd = kafka.command(p, config, heap_mb=cs.broker_heap_mb)
    procs.spawn(p.run, broker_record(node), cmd, p.logs / f"{broker_record(node)}.log")
    return True


def broker_running(cs: ClusterSettings, node: int) -> bool:
    p = cs.paths()
    return procs.live_process(procs.read_record(p.run, broker_record(node))) is not None


def stop_broker(cs: ClusterSettings, node: int) -> bool:
    return procs.stop(cs.paths().run, broker_record(node), timeout=30)


async def live_brokers(bootstrap: str) -> int:
    """How many brokers the cluster's metadata lists (0 when none answers)."""
    import logging

    from aiokafka.admin import AIOKafkaAdminClient

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await admin.start()
        described = await admin.describe_cluster()
        return len(described["brokers"])
    except Exception:
        return 0
    finally:
        await admin.close()


def brokers_ready(cs: ClusterSettings) -> bool:
    return asyncio.run(live_brokers(cs.bootstrap)) >= cs.brokers


# -- the whole cluster ---------------------------------------------------------


def infra_up(cs: ClusterSettings, timeout: float) -> None:
    """PostgreSQL and every broker running and answering; topics created with
    replication ``cs.replication``."""
    from crm_common.kafka import ensure_topics

    p = cs.paths()
    p.ensure()
    postgres.start(p, cs.postgres_port)
    kafka.ensure_jars(p)
    _write_broker_configs(cs)
    _format_brokers(cs)
    for node in cs.node_ids:
        start_broker(cs, node)
    procs.wait_until(lambda: postgres.ready(cs.postgres_port), timeout, "PostgreSQL")
    postgres.ensure_database(cs.postgres_port, DATABASE)
    procs.wait_until(lambda: brokers_ready(cs), timeout, f"{cs.brokers} Kafka brokers")
    asyncio.run(ensure_topics(cs.kafka_settings()))


def process_env(cs: ClusterSettings, proc: Process, keys: dict[str, str]) -> dict[str, str]:
    env = {**cs.env(), **secrets.held_by(proc.service, keys)}
    if proc.service == "dashboard":  # the console of replica r calls replica r's services
        for other in ("ingest", "profile", "segment", "messaging"):
            env[f"DASHBOARD_{other.upper()}_URL"] = cs.url(other, proc.replica)
    if proc.service == "messaging":
        env.setdefault("MESSAGING_PUBLIC_URL", proc.url)
    return env


def start_process(
    cs: ClusterSettings, proc: Process, keys: dict[str, str], extra: dict[str, str] | None = None
) -> bool:
    env = {**process_env(cs, proc, keys), **(extra or {})}
    return services.start_as(cs.paths(), proc.record, proc.name, proc.port, env)


def process_running(cs: ClusterSettings, record: str) -> bool:
    return procs.live_process(procs.read_record(cs.paths().run, record)) is not None


def up(cs: ClusterSettings, timeout: float, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Start (idempotently) everything and wait for every ``/readyz``; the secrets."""
    infra_up(cs, timeout)
    p = cs.paths()
    keys = secrets.ensure(p)
    for name in services.SERVICES:
        if not any(process_running(cs, x.record) for x in cs.processes() if x.service == name):
            migrate_env = {**cs.env(), **secrets.held_by(name, keys)}
            with _environment(migrate_env):
                services.migrate(name)
    for proc in cs.processes():
        start_process(cs, proc, keys, extra)
    for proc in cs.processes():
        procs.wait_until(lambda x=proc: services.answers(x.url), timeout, f"{proc.record} /readyz")
    return keys


class _environment:
    """Variables set for a block (services.migrate reads os.environ)."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        self.saved = {k: os.environ.get(k) for k in self.values}
        os.environ.update(self.values)

    def __exit__(self, *exc: object) -> None:
        for key, value in self.saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def down(cs: ClusterSettings) -> list[str]:
    """Stop everything the cluster started (by recorded pid); what was stopped."""
    p = cs.paths()
    if not p.run.exists():
        return []
    stopped = [x.record for x in reversed(cs.processes()) if services.stop(p, x.record)]
    stopped += [broker_record(n) for n in cs.node_ids if stop_broker(cs, n)]
    if postgres.stop(p):
        stopped.append("postgres")
    return stopped


def status_rows(cs: ClusterSettings) -> list[tuple[str, bool, bool, str]]:
    """(name, running, ready, where) for every part of the cluster."""
    p = cs.paths()
    live = asyncio.run(live_brokers(cs.bootstrap))
    rows = [
        (
            "postgres",
            postgres.is_running(p),
            postgres.ready(cs.postgres_port),
            f"127.0.0.1:{cs.postgres_port}",
        )
    ]
    for n in cs.node_ids:
        running = broker_running(cs, n)
        rows.append((broker_record(n), running, running and live >= cs.brokers, cs.bootstrap))
    for x in cs.processes():
        rows.append((x.record, process_running(cs, x.record), services.answers(x.url), x.url))
    return rows
