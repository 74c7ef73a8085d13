"""The short fault run (``make chaos`` in two minutes, fewer faults): a shop's webhooks
to both fronts, batches, a CSV import, a journey and a campaign to the local SMTP sink,
while a seeded schedule SIGKILLs service processes, kills and restarts a broker,
crash-restarts PostgreSQL, SIGSTOPs a consumer past its session timeout and drops a
service's database connections. The checker then finds nothing lost and nothing
doubled at any stage, and every process ready again without being restarted.

It starts its own cluster (three brokers, PostgreSQL, two processes of every service)
on its own ports and folder and stops it at the end."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from crm_localstack import cluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
# Under the repository, not pytest's tmp_path: PostgreSQL runs as its own system user,
# and pytest keeps /tmp/pytest-of-<user> private (0700), so pg_ctl could not reach it.
FOLDER = ROOT / ".local" / "chaos-test"
# Below the ephemeral range (32768+), so no outgoing connection can hold one first.
PORTS = {"kafka": 24192, "postgres": 24433, "services": 24100}
STAGES = ("readiness", "facts", "profiles", "segment", "journey", "campaign", "email sink")


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_short_fault_run_loses_and_doubles_nothing() -> None:
    wanted = [PORTS["kafka"] + i for i in (0, 1, 2, 10, 11, 12)]
    wanted += [PORTS["postgres"], *range(PORTS["services"], PORTS["services"] + 40)]
    busy = [p for p in wanted if not _free(p)]
    assert not busy, f"ports the short fault run needs are taken: {busy}"
    command = [
        *(sys.executable, "-m", "crm_localstack.chaos"),
        *("--minutes", "2", "--short", "--customers", "80", "--settle", "300"),
        *("--dir", str(FOLDER), "--seed", "11"),
        *("--kafka-port", str(PORTS["kafka"]), "--postgres-port", str(PORTS["postgres"])),
        *("--port-base", str(PORTS["services"])),
    ]
    shutil.rmtree(FOLDER, ignore_errors=True)  # a fresh cluster every time
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1700)
    finally:  # whatever happened (a timeout), nothing of it keeps running
        settings = cluster.ClusterSettings(
            dir=FOLDER,
            kafka_port=PORTS["kafka"],
            postgres_port=PORTS["postgres"],
            port_base=PORTS["services"],
        )
        cluster.down(settings)
        shutil.rmtree(FOLDER, ignore_errors=True)
    out = done.stdout + done.stderr
    faults = [line for line in out.splitlines() if " FAULT " in line]
    assert any("SIGKILL broker" in f for f in faults), out[-4000:]
    assert any("pg_ctl restart" in f for f in faults), out[-4000:]
    assert any("SIGSTOP" in f for f in faults), out[-4000:]
    assert any("database connections" in f for f in faults), out[-4000:]
    assert sum("SIGKILL" in f and "broker" not in f for f in faults) >= 2, out[-4000:]
    for stage in STAGES:
        found = re.search(rf"{stage}\s+lost (\d+), duplicated (\d+)", out)
        assert found, f"no line for {stage}: {out[-4000:]}"
        assert found.groups() == ("0", "0"), out[-6000:]
    assert done.returncode == 0, out[-4000:]
