"""The render worker process: renders job lists, tells its progress, stays bounded.

Runs in a process of the render pool (:mod:`.render_pool`), forked from the
forkserver with this module preloaded. Before each job it writes into shared
memory (``progress``: job index, part index, start time) what it is doing, so
the parent can kill it past the time budget and name the part. Its address
space is capped (RLIMIT_AS), so a template that builds a huge value gets a
MemoryError here instead of swapping the machine.
"""

from __future__ import annotations

import resource
import signal
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from crm_messaging.domain.compose import RenderedMessage, RenderJob, render_message
from crm_messaging.domain.errors import TemplateOverBudget, TemplateRenderError

JOB, PART, STARTED = 0, 1, 2  # slots of the shared progress array


@dataclass(frozen=True)
class RenderLimits:
    timeout: float = 1.0  # seconds per message, all parts
    max_bytes: int = 1024 * 1024  # output per message, UTF-8
    memory_bytes: int = 512 * 1024 * 1024  # address space of a worker
    workers: int = 2
    quarantine_seconds: float = 600.0


@dataclass(frozen=True)
class RenderFailure:
    """A message that cannot be rendered; ``budget`` (time, output, memory) or None."""

    part: str
    message: str
    budget: str | None = None

    @property
    def reason(self) -> str:
        return "template_over_budget" if self.budget else "template_error"

    @property
    def detail(self) -> str:
        return f"{self.part}: {self.message}" if self.part else self.message


Outcome = RenderedMessage | RenderFailure


def serve(conn: Connection, progress: Any, limits: RenderLimits) -> None:
    """The worker's loop: a job list in, its outcomes out, until the parent goes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if limits.memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    while True:
        try:
            jobs = conn.recv()
        except (EOFError, OSError):
            return
        outcomes = [_one(index, job, progress, limits) for index, job in enumerate(jobs)]
        progress[JOB] = -1
        conn.send(outcomes)


def _one(index: int, job: RenderJob, progress: Any, limits: RenderLimits) -> Outcome:
    names = {name: n for n, name in enumerate(job.template.parts)}

    def on_part(name: str) -> None:
        progress[PART] = names.get(name, -1)

    progress[STARTED] = time.monotonic()
    progress[PART] = -1
    progress[JOB] = index
    try:
        return render_message(job, limits.max_bytes, on_part)
    except TemplateOverBudget as exc:
        return RenderFailure(exc.part, exc.detail, exc.budget)
    except TemplateRenderError as exc:
        return RenderFailure(exc.part, exc.detail)
    except MemoryError:
        return RenderFailure(
            part_name(job, progress[PART]), "the render ran out of memory", "memory"
        )
    except Exception as exc:  # a bug must fail this message, not the worker
        return RenderFailure(part_name(job, progress[PART]), f"{type(exc).__name__}: {exc}")


def part_name(job: RenderJob, index: float) -> str:
    names = list(job.template.parts)
    return names[int(index)] if 0 <= index < len(names) else ""
