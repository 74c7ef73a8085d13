"""Group commit: many concurrent sends share one transaction, without waiting for a timer.

Whoever submits while a commit is running joins the next one, so under load N
outcomes cost one round of statements, and alone an outcome is committed at
once. The email window of doubt therefore grows by at most the commit already
in flight, never by a batching delay.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class GroupCommit(Generic[T]):
    def __init__(self, apply: Callable[[list[T]], Awaitable[None]], max_batch: int = 500) -> None:
        self.apply = apply
        self.max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._runner: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> None:
        """Return once ``item`` is committed (or raise what its commit raised)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._drain())
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
