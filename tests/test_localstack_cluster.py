"""Cluster mode's layout (crm_localstack.cluster): its own ports and folder beside the
single stack, a three-voter KRaft quorum with replication 3 and min.insync.replicas 2,
and `down` stopping what it recorded. The whole cluster running under faults is
tests/chaos (make chaos)."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

from crm_common.settings import SERVICE_PORTS
from crm_localstack import cluster, kafka, procs


def _props(text: str) -> dict[str, str]:
    pairs = (line.partition("=") for line in text.splitlines() if line)
    return {k: v for k, _, v in pairs}


def test_cluster_ports_never_meet_the_single_stack() -> None:
    cs = cluster.ClusterSettings()
    ports = [x.port for x in cs.processes()]
    ports += [cs.broker_port(n) for n in cs.node_ids]
    ports += [cs.controller_port(n) for n in cs.node_ids]
    ports.append(cs.postgres_port)
    single = {*SERVICE_PORTS.values(), 8011, 9092, 9093, 5432}
    assert len(ports) == len(set(ports)) == 12 + 3 + 3 + 1
    assert not single & set(ports)
    assert cs.paths().local.name == "cluster"


def test_two_processes_of_every_service_and_two_fronts() -> None:
    cs = cluster.ClusterSettings()
    records = [x.record for x in cs.processes()]
    for name in ("ingest", "ingest-worker", "profile", "segment", "messaging", "dashboard"):
        assert f"{name}-1" in records and f"{name}-2" in records
    fronts = [x for x in cs.processes() if x.name == "ingest"]
    assert len({x.port for x in fronts}) == 2


def test_each_console_calls_its_own_replica_and_everyone_gets_the_cluster() -> None:
    cs = cluster.ClusterSettings()
    dashboard_2 = cs.process("dashboard-2")
    env = cluster.process_env(cs, dashboard_2, {})
    assert env["DASHBOARD_INGEST_URL"] == cs.process("ingest-2").url
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:19192,127.0.0.1:19193,127.0.0.1:19194"
    assert env["KAFKA_REPLICATION_FACTOR"] == "3"
    assert env["POSTGRES_PORT"] == "15433"


def test_broker_properties_make_a_replicated_quorum(tmp_path: Path) -> None:
    text = kafka.properties(
        node_id=2,
        port=19193,
        controller_port=19203,
        voters="1@127.0.0.1:19202,2@127.0.0.1:19203,3@127.0.0.1:19204",
        data_dir=tmp_path,
        replication=3,
    )
    props = _props(text)
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"].count("@") == 3
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"
    assert props["unclean.leader.election.enable"] == "false"


def test_single_node_properties_are_unreplicated(tmp_path: Path) -> None:
    props = _props(
        kafka.properties(
            node_id=1,
            port=9092,
            controller_port=9093,
            voters="1@127.0.0.1:9093",
            data_dir=tmp_path,
            replication=1,
        )
    )
    assert props["offsets.topic.replication.factor"] == "1"
    assert "min.insync.replicas" not in props


def test_down_stops_the_cluster_processes_it_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_CLUSTER_DIR", str(tmp_path))
    cs = cluster.ClusterSettings()
    run = cs.paths().run
    run.mkdir(parents=True)
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    ours = procs.spawn(run, "profile-2", sleeper, tmp_path / "profile-2.log")
    assert cluster.down(cs) == ["profile-2"]
    assert not psutil.pid_exists(ours.pid) or psutil.Process(ours.pid).status() == "zombie"
    assert cluster.down(cs) == []
