"""Group commit: many concurrent sends share one transaction, without waiting for a timer.

Whoever submits while ``max_inflight`` commits are running joins the next one, so
under load N outcomes cost one round of statements, and alone an outcome is
committed at once. Up to ``max_inflight`` groups commit side by side (their rows
are disjoint): on a busy database a commit takes milliseconds, and with one at a
time a submitter waited for the commit in flight and then for its own, holding its
SMTP connection idle meanwhile. The email window of doubt therefore grows by at
most the commits already in flight, never by a batching delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(
        self,
        apply: Callable[[list[T]], Awaitable[None]],
        max_batch: int = 500,
        max_inflight: int = 2,
    ) -> None:
        self.apply = apply
        self.max_batch = max_batch
        self.max_inflight = max_inflight
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> None:
        """Return once ``item`` is committed (or raise what its commit raised)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._running) < self.max_inflight:
            task = asyncio.create_task(self._drain())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        await future

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = (
                self._pending[: self.max_batch],
                self._pending[self.max_batch :],
            )
            try:
                await self.apply([item for item, _ in group])
            except Exception as exc:
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for _, future in group:
                if not future.done():
                    future.set_result(None)
