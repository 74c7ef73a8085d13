"""The local stack's process bookkeeping: stop by recorded pid, idempotent start."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from crm_localstack import procs


def test_stop_kills_only_the_recorded_process(tmp_path: Path) -> None:
    ours = procs.spawn(
        tmp_path,
        "sleeper",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        tmp_path / "sleeper.log",
    )
    # A process with the same command line that we did not start must survive.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        assert procs.live_process(procs.read_record(tmp_path, "sleeper")) is not None
        assert procs.stop(tmp_path, "sleeper") is True
        assert not psutil.pid_exists(ours.pid) or psutil.Process(ours.pid).status() == "zombie"
        assert stranger.poll() is None
        assert procs.read_record(tmp_path, "sleeper") is None
        assert procs.stop(tmp_path, "sleeper") is False  # second stop: nothing to do
    finally:
        stranger.kill()
        stranger.wait()


def test_a_stale_record_with_a_reused_pid_is_not_ours(tmp_path: Path) -> None:
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        fake = procs.Record("old", stranger.pid, time.time() - 3600, ["java"])
        procs.write_record(tmp_path, fake)
        assert procs.live_process(procs.read_record(tmp_path, "old")) is None
        assert procs.stop(tmp_path, "old") is False
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


@pytest.mark.infra
def test_infra_up_is_a_no_op_when_running(infra) -> None:  # type: ignore[no-untyped-def]
    if infra.how != "local stack":
        pytest.skip(f"engines come from {infra.how}, not the local stack")
    out = subprocess.run(
        [sys.executable, "-m", "crm_localstack.cli", "infra"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "postgres  already running" in out
    assert "kafka     already running" in out
