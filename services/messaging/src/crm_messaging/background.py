"""One shape for the service's background workers (dispatcher, journeys, campaigns).

``BackgroundWorker``: one task, started and stopped; ``stop()`` lets the work in
flight finish (30 s at most) before it cancels. ``PollingWorker`` runs ``round()``
again and again while it finds work, and waits ``idle_seconds`` (or until
``stop()``) when a round found none. A failing round is logged and retried after
the idle wait: the database may be away, the worker stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod

log = logging.getLogger(__name__)


class BackgroundWorker(ABC):
    name = "worker"

    def __init__(self) -> None:
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=30)
            except TimeoutError:
                self._task.cancel()

    async def idle(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the worker is stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    @abstractmethod
    async def _loop(self) -> None:
        """Run until ``stop()`` is called."""


class PollingWorker(BackgroundWorker):
    idle_seconds = 0.5

    @abstractmethod
    async def round(self) -> int:
        """Do one unit of work; how much was done (0: nothing to do now)."""

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = await self.round()
            except Exception as exc:  # the database or a bug: log, back off, go on
                log.warning(f"{self.name} round failed", extra={"error": repr(exc)})
                worked = 0
            if not worked:
                await self.idle(self.idle_seconds)
