"""Start detached processes and stop them by recorded pid (never by name)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Record:
    name: str
    pid: int
    create_time: float
    cmd: list[str]


def _record_path(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.json"


def read_record(run_dir: Path, name: str) -> Record | None:
    path = _record_path(run_dir, name)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return Record(data["name"], data["pid"], data["create_time"], data["cmd"])


def write_record(run_dir: Path, record: Record) -> None:
    _record_path(run_dir, record.name).write_text(json.dumps(record.__dict__))


def forget(run_dir: Path, name: str) -> None:
    _record_path(run_dir, name).unlink(missing_ok=True)


def live_process(record: Record | None) -> psutil.Process | None:
    """The recorded process if it still runs and is the same one (pid reuse guard)."""
    if record is None:
        return None
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) > 1.0:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def spawn(
    run_dir: Path,
    name: str,
    cmd: Sequence[str],
    log_file: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Record:
    """Start ``cmd`` in its own session with output to ``log_file``; record its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    record = Record(name, proc.pid, psutil.Process(proc.pid).create_time(), list(cmd))
    write_record(run_dir, record)
    return record


def stop(run_dir: Path, name: str, timeout: float = 20.0) -> bool:
    """SIGTERM the recorded process group, SIGKILL after ``timeout``; True if it was running."""
    record = read_record(run_dir, name)
    proc = live_process(record)
    if proc is None:
        forget(run_dir, name)
        return False
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait(10)
    forget(run_dir, name)
    return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    # The process leads its own session (start_new_session), so its group id is its pid:
    # this reaches children it started (uvicorn workers) and nothing else.
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass


def wait_until(check: object, timeout: float, what: str, interval: float = 0.25) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")
