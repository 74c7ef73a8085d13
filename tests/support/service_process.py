"""Run a service as a real process against the test run's Kafka and database.

with run_service("ingest", infra, {"INGEST_ADMIN_TOKEN": "t"}) as svc:
    httpx.post(f"{svc.url}/webhooks/shopify", ...)
    svc.kill()      # SIGKILL, as a crash would
    svc.start()     # same port, same environment
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServiceProcess:
    name: str
    env: dict[str, str]
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.launch()
        self.wait_ready(timeout)

    def launch(self) -> None:
        """Start the process without waiting for it to be ready: a crash test that
        restarts mid-stream keeps watching the stream meanwhile (a restarted process
        does work before its /readyz answers 200)."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"crm_{self.name}", "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout}s: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks run, exactly like a crash."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@contextmanager
def run_service(
    name: str, infra: Any, extra_env: dict[str, str] | None = None, log_dir: Path | None = None
) -> Iterator[ServiceProcess]:
    port = free_port()
    env = {
        **os.environ,
        **infra.env,
        f"{name.upper()}_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    folder = log_dir or Path(os.environ.get("CRM_TEST_LOGS", "/tmp/crm-test-logs"))
    folder.mkdir(parents=True, exist_ok=True)
    svc = ServiceProcess(name, env, port, folder / f"{name}-{port}.log")
    try:
        svc.start()  # inside: a start that times out still stops what it started
        yield svc
    finally:
        svc.stop()
