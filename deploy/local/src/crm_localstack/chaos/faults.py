"""The seeded fault schedule: every fault is written to the log as it happens.

* a random service process SIGKILLed every 20-40 s (its process group: a messaging
  process takes its render workers with it), restarted a few seconds later;
* one broker SIGKILLed, restarted after a while (and, in a full run, once the
  active controller);
* PostgreSQL restarted with ``pg_ctl restart -m immediate`` (a crash restart);
* a consumer process SIGSTOPped past its session timeout, then SIGCONTed;
* one process's database connections dropped (``pg_terminate_backend``) again and
  again for a while, then left alone.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

from crm_localstack import cluster, postgres, procs

Log = Callable[[str], None]


@dataclass
class Faults:
    cs: cluster.ClusterSettings
    keys: dict[str, str]
    extra: dict[str, str]
    rng: random.Random
    log: Log
    stop: threading.Event = field(default_factory=threading.Event)
    done: list[str] = field(default_factory=list)

    # -- the schedule ------------------------------------------------------------
    def run(self, seconds: float, full: bool) -> None:
        """Faults over ``seconds``: the one-off faults at fixed fractions of the run,
        process kills every 20-40 s in between."""
        start = time.monotonic()
        one_offs: list[tuple[float, Callable[[], None]]] = [
            (0.15, lambda: self.kill_broker(controller=False)),
            (0.35, self.restart_postgres),
            (0.50, self.stop_consumer),
            (0.65, self.drop_connections),
        ]
        if full:
            one_offs.append((0.80, lambda: self.kill_broker(controller=True)))
        next_kill = start + self.rng.uniform(20, 40)
        while not self.stop.is_set() and time.monotonic() - start < seconds:
            elapsed = (time.monotonic() - start) / seconds
            if one_offs and elapsed >= one_offs[0][0]:
                self._safely(one_offs.pop(0)[1])
            elif time.monotonic() >= next_kill:
                self._safely(self.kill_process)
                next_kill = time.monotonic() + self.rng.uniform(20, 40)
            self.stop.wait(0.5)

    def _safely(self, fault: Callable[[], None]) -> None:
        """A fault that cannot be injected is logged; the schedule goes on."""
        try:
            fault()
        except Exception as exc:
            self.log(f"  fault could not be injected: {exc!r}")

    def _note(self, text: str) -> None:
        self.done.append(text)
        self.log(f"FAULT {text}")

    # -- service processes ---------------------------------------------------------
    def _pid(self, record: str) -> int | None:
        proc = procs.live_process(procs.read_record(self.cs.paths().run, record))
        return proc.pid if proc is not None else None

    def kill_process(self, record: str | None = None) -> None:
        choices = [x.record for x in self.cs.processes() if x.service != "dashboard"]
        record = record or self.rng.choice(choices)
        pid = self._pid(record)
        if pid is None:
            return
        os.killpg(pid, signal.SIGKILL)
        self._note(f"SIGKILL {record} (pid {pid})")
        self.stop.wait(self.rng.uniform(2, 6))
        self.restart(record)

    def restart(self, record: str) -> None:
        proc = self.cs.process(record)
        _reap(self._pid(record))
        cluster.start_process(self.cs, proc, self.keys, self.extra)
        self.log(f"  restarted {record}")

    def stop_consumer(self) -> None:
        record = self.rng.choice(["profile-1", "profile-2", "segment-1", "messaging-2"])
        pid = self._pid(record)
        if pid is None:
            return
        os.killpg(pid, signal.SIGSTOP)
        pause = 10 + self.rng.uniform(5, 10)  # past aiokafka's 10 s session timeout
        self._note(f"SIGSTOP {record} for {pause:.0f}s (session timeout 10s)")
        self.stop.wait(pause)
        os.killpg(pid, signal.SIGCONT)
        self.log(f"  SIGCONT {record}")

    # -- brokers -----------------------------------------------------------------
    def kill_broker(self, controller: bool) -> None:
        active = active_controller(self.cs)
        nodes = list(self.cs.node_ids)
        if controller and active in nodes:
            node = active
        else:
            node = self.rng.choice([n for n in nodes if n != active] or nodes)
        record = procs.read_record(self.cs.paths().run, cluster.broker_record(node))
        proc = procs.live_process(record)
        if proc is None:
            return
        proc.kill()
        what = "the active controller" if node == active else "a follower controller"
        self._note(f"SIGKILL broker {node} ({what}; controller was {active})")
        self.stop.wait(self.rng.uniform(15, 25))
        _reap(proc.pid)
        cluster.start_broker(self.cs, node)
        self.log(f"  restarted broker {node}")

    # -- PostgreSQL ------------------------------------------------------------------
    def restart_postgres(self) -> None:
        p = self.cs.paths()
        self._note("pg_ctl restart -m immediate")
        # The restarted server writes to its log file, never to our pipes (capturing its
        # output would wait for the new server to exit).
        log = str(p.logs / "postgres.log")
        pg_ctl = [postgres._bin("pg_ctl"), "-D", str(p.pg_data), "-m", "immediate", "-l", log]
        done = subprocess.run(
            [*pg_ctl, "-w", "-t", "120", "restart"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180,
            **postgres._run_as(),
        )
        if done.returncode != 0:
            self.log(f"  pg_ctl restart failed ({done.returncode}): {done.stdout.strip()}")
            postgres.start(p, self.cs.postgres_port)
        self.log("  PostgreSQL back")

    def drop_connections(self, seconds: float = 12.0) -> None:
        record = self.rng.choice(["profile-1", "segment-2", "messaging-1", "ingest-worker-2"])
        self._note(f"drop {record}'s database connections for {seconds:.0f}s")
        deadline = time.monotonic() + seconds
        dropped = 0
        while time.monotonic() < deadline and not self.stop.is_set():
            dropped += self._terminate(record)
            self.stop.wait(1.0)
        self.log(f"  {dropped} backends of {record} terminated; connections left alone again")

    def _terminate(self, record: str) -> int:
        pid = self._pid(record)
        if pid is None:
            return 0
        ports = _client_ports(pid, self.cs.postgres_port)
        if not ports:
            return 0
        sql = (
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE client_port IN ({','.join(map(str, ports))})"
        )
        psql = [postgres._bin("psql"), "-h", "127.0.0.1", "-p", str(self.cs.postgres_port)]
        out = subprocess.run(
            [*psql, "-U", "postgres", "-tAc", sql],
            capture_output=True,
            text=True,
        )
        return int(out.stdout.strip() or 0)


def _client_ports(pid: int, pg_port: int) -> list[int]:
    """Local ports of the TCP connections ``pid`` (and its children) hold to PostgreSQL."""
    try:
        root = psutil.Process(pid)
        family = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    ports = []
    for proc in family:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        ports += [c.laddr.port for c in conns if c.raddr and c.raddr.port == pg_port]
    return ports


def _reap(pid: int | None) -> None:
    """Collect a killed child so its pid record reads as dead."""
    if pid is None:
        return
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def active_controller(cs: cluster.ClusterSettings) -> int | None:
    """The quorum's leader, from the voters' own ``quorum-state`` files (KRaft does not
    tell clients which controller is active): the newest epoch's leader."""
    best: tuple[int, int] | None = None
    for node in cs.node_ids:
        path = cs.paths().local / "kafka" / f"node-{node}" / "data"
        state = path / "__cluster_metadata-0" / "quorum-state"
        try:
            data = json.loads(state.read_text())
        except (OSError, ValueError):
            continue
        leader, epoch = data.get("leaderId", -1), data.get("leaderEpoch", -1)
        if leader is not None and leader >= 0 and (best is None or epoch > best[1]):
            best = (int(leader), int(epoch))
    return best[0] if best else None
