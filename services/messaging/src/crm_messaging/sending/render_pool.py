"""Rendering off the event loop, with budgets a template cannot escape.

A small pool of worker processes renders lists of :class:`RenderJob`. A claimed
dispatch batch is one list (split over the idle workers), so the hot path pays
one exchange per batch, not one round trip per message. Workers are forked from
a preloaded forkserver (about 10 ms each), never from the service process.

* Time: before each job the worker writes, into shared memory, which job and
  part it is on and when the job started. The parent waits for the answer; when
  the job in progress has run past ``timeout`` it kills the worker (SIGKILL: a
  loop that emits nothing, a huge power, a long C call, nothing has to
  cooperate), answers that job with a time failure naming the part, and renders
  the rest of the list on a fresh worker.
* Memory: RLIMIT_AS in the worker; a MemoryError, or a worker that dies, fails
  only the job it was on.
* Output: counted while generating, see :func:`crm_messaging.domain.rendering.render`.
* Quarantine: a template (``RenderJob.key``) that ran out of time or memory fails
  at once for ``quarantine_seconds`` in this process, so a batch of one bad
  template costs one budget, not one per message.

A worker that dies before it starts a job is the pool's fault, not a template's:
:class:`RenderPoolUnavailable` (the dispatcher's round is retried).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing import forkserver
from typing import TYPE_CHECKING, Any

from crm_messaging.domain.compose import RenderJob
from crm_messaging.sending import render_worker
from crm_messaging.sending.render_worker import (
    JOB,
    PART,
    STARTED,
    Outcome,
    RenderFailure,
    RenderLimits,
    part_name,
)

if TYPE_CHECKING:
    from crm_messaging.config import MessagingService

__all__ = [
    "Outcome",
    "RenderFailure",
    "RenderLimits",
    "RenderPool",
    "RenderPoolUnavailable",
    "render_limits",
]

_STARTUP_SECONDS = 60.0
_MIN_CHUNK = 32
_QUARANTINE_SIZE = 10_000


def render_limits(settings: MessagingService, workers: int) -> RenderLimits:
    return RenderLimits(
        timeout=settings.render_timeout_seconds,
        max_bytes=settings.render_max_bytes,
        memory_bytes=settings.render_memory_mb * 1024 * 1024,
        workers=workers,
        quarantine_seconds=settings.render_quarantine_seconds,
    )


class RenderPoolUnavailable(Exception):
    """No worker could render (it died before starting): infrastructure, not a template."""


def _context() -> Any:
    """The forkserver, started now if it is not running (once per process, about
    half a second): later workers fork from it in milliseconds."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([render_worker.__name__])
    forkserver.ensure_running()
    return ctx


class _Worker:
    def __init__(self, ctx: Any, limits: RenderLimits) -> None:
        self.conn, child = ctx.Pipe()
        self.progress = ctx.RawArray("d", 3)
        self.progress[JOB] = -1
        self.process = ctx.Process(
            target=render_worker.serve,
            args=(child, self.progress, limits),
            daemon=True,
            name="crm-render",
        )
        self.process.start()
        child.close()

    def exchange(self, jobs: list[RenderJob]) -> list[Outcome]:
        self.conn.send(jobs)
        outcomes: list[Outcome] = self.conn.recv()
        return outcomes

    def kill(self) -> None:
        self.process.kill()
        self.process.join(5)
        self.conn.close()


@dataclass(frozen=True)
class _Stopped:
    """A list that did not finish: ``index`` failed with ``failure``, the rest is unknown."""

    index: int
    failure: RenderFailure


class RenderPool:
    """Start in the lifespan (or lazily on first use), close on shutdown."""

    def __init__(self, limits: RenderLimits) -> None:
        self.limits = limits
        self._ctx = _context()
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()
        self._live = 0
        self._changed = asyncio.Condition()
        self._executor: ThreadPoolExecutor | None = None
        self._quarantine: dict[Hashable, tuple[float, RenderFailure]] = {}
        self.kills = 0

    async def start(self) -> None:
        """Start every worker now (the first message should not wait for them)."""
        workers = [await self._acquire() for _ in range(self.limits.workers)]
        for worker in workers:
            await self._release(worker)

    async def close(self) -> None:
        """Kill every worker; a later render starts new ones."""
        for worker in list(self._all):
            await self._discard(worker)
        self._idle.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    @property
    def _threads(self) -> ThreadPoolExecutor:
        """Threads that wait on the workers' pipes (blocking calls, off the loop)."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                2 * self.limits.workers + 1, thread_name_prefix="crm-render"
            )
        return self._executor

    async def render(self, jobs: Sequence[RenderJob]) -> list[Outcome]:
        """One outcome per job, in order."""
        results: list[Outcome | None] = [self._quarantined(job.key) for job in jobs]
        todo = [i for i, outcome in enumerate(results) if outcome is None]
        chunks = _split(todo, self.limits.workers)
        await asyncio.gather(*(self._render_chunk(jobs, chunk, results) for chunk in chunks))
        assert all(outcome is not None for outcome in results)
        return [outcome for outcome in results if outcome is not None]

    async def _render_chunk(
        self, jobs: Sequence[RenderJob], pending: list[int], results: list[Outcome | None]
    ) -> None:
        while pending:
            worker = await self._acquire()
            try:
                answer = await self._exchange(worker, [jobs[i] for i in pending])
            except BaseException:
                await self._discard(worker)
                raise
            if not isinstance(answer, _Stopped):
                for i, outcome in zip(pending, answer, strict=True):
                    results[i] = outcome
                await self._release(worker)
                return
            await self._discard(worker)
            stopped = pending[answer.index]
            results[stopped] = answer.failure
            self._quarantine_add(jobs[stopped].key, answer.failure)
            rest = pending[: answer.index] + pending[answer.index + 1 :]
            pending = []
            for i in rest:
                quarantined = self._quarantined(jobs[i].key)
                if quarantined is None:
                    pending.append(i)
                else:
                    results[i] = quarantined

    async def _exchange(self, worker: _Worker, jobs: list[RenderJob]) -> list[Outcome] | _Stopped:
        loop = asyncio.get_running_loop()
        worker.progress[JOB] = -1
        sent = time.monotonic()
        answer = loop.run_in_executor(self._threads, worker.exchange, jobs)
        wait, began = self.limits.timeout, False
        while True:
            done, _ = await asyncio.wait({answer}, timeout=wait)
            if done:
                return self._answered(worker, jobs, answer)
            index, started = int(worker.progress[JOB]), worker.progress[STARTED]
            now = time.monotonic()
            if index < 0:  # not started yet, or sending the answer
                if not began and now - sent > _STARTUP_SECONDS:
                    raise RenderPoolUnavailable("a render worker did not start")
                wait = 0.05
                continue
            began = True
            if now - started < self.limits.timeout:
                wait = self.limits.timeout - (now - started) + 0.005
                continue
            part = part_name(jobs[index], worker.progress[PART])
            await self._kill(worker)
            with suppress(Exception):
                await answer
            message = f"rendering took longer than {self.limits.timeout:g} s"
            return _Stopped(index, RenderFailure(part, message, "time"))

    def _answered(
        self, worker: _Worker, jobs: list[RenderJob], answer: asyncio.Future[list[Outcome]]
    ) -> list[Outcome] | _Stopped:
        try:
            return answer.result()
        except (EOFError, OSError) as exc:
            index = int(worker.progress[JOB])
            if index < 0:
                raise RenderPoolUnavailable("a render worker died") from exc
            part = part_name(jobs[index], worker.progress[PART])
            return _Stopped(index, RenderFailure(part, "the render worker died", "memory"))

    def _quarantined(self, key: Hashable) -> RenderFailure | None:
        if key is None or key not in self._quarantine:
            return None
        until, failure = self._quarantine[key]
        if until > time.monotonic():
            return failure
        del self._quarantine[key]
        return None

    def _quarantine_add(self, key: Hashable, failure: RenderFailure) -> None:
        if key is None or failure.budget not in ("time", "memory"):
            return
        if len(self._quarantine) >= _QUARANTINE_SIZE:
            del self._quarantine[next(iter(self._quarantine))]
        self._quarantine[key] = (time.monotonic() + self.limits.quarantine_seconds, failure)

    async def _acquire(self) -> _Worker:
        async with self._changed:
            while not self._idle and self._live >= self.limits.workers:
                await self._changed.wait()
            if self._idle:
                return self._idle.pop()
            self._live += 1
        try:
            loop = asyncio.get_running_loop()
            worker = await loop.run_in_executor(self._threads, _Worker, self._ctx, self.limits)
        except BaseException:
            async with self._changed:
                self._live -= 1
                self._changed.notify()
            raise
        self._all.add(worker)
        return worker

    async def _release(self, worker: _Worker) -> None:
        if worker not in self._all:  # the pool was closed meanwhile
            await self._discard(worker)
            return
        async with self._changed:
            self._idle.append(worker)
            self._changed.notify()

    async def _kill(self, worker: _Worker) -> None:
        self.kills += 1
        await asyncio.get_running_loop().run_in_executor(self._threads, worker.kill)

    async def _discard(self, worker: _Worker) -> None:
        await asyncio.get_running_loop().run_in_executor(self._threads, worker.kill)
        if worker not in self._all:
            return
        self._all.discard(worker)
        async with self._changed:
            self._live -= 1
            self._changed.notify()


def _split(indexes: list[int], workers: int) -> list[list[int]]:
    """Contiguous chunks, one per worker, none smaller than _MIN_CHUNK (but one)."""
    if not indexes:
        return []
    count = max(1, min(workers, len(indexes) // _MIN_CHUNK))
    size = -(-len(indexes) // count)
    return [indexes[i : i + size] for i in range(0, len(indexes), size)]
