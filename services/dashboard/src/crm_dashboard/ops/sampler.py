"""Prometheus text -> totals and per-second rates.

A rate needs two samples: :class:`MetricsSampler` remembers earlier scrapes per
service (in this process) and compares the new one with the newest earlier scrape
that is at least ``min_interval`` seconds old, so two page views a few
milliseconds apart do not produce a noisy rate. The first scrape of a service has
totals and ``per_second=None``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]


def parse_samples(text: str) -> Samples:
    """Every sample of a /metrics answer, keyed by (sample name, label set)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = float(sample.value)
    return samples


@dataclass(frozen=True)
class Scrape:
    at: float  # the sampler's clock (monotonic seconds)
    samples: Samples

    def total(self, name: str, where: Mapping[str, str] | None = None) -> float:
        """Sum of the samples named ``name`` whose labels include ``where``."""
        return sum(self.breakdown(name, (), where).values())

    def breakdown(
        self, name: str, keys: tuple[str, ...], where: Mapping[str, str] | None = None
    ) -> dict[tuple[str, ...], float]:
        """Samples named ``name`` matching ``where``, summed per values of ``keys``."""
        wanted = set((where or {}).items())
        sums: dict[tuple[str, ...], float] = {}
        for (sample, labels), value in self.samples.items():
            if sample != name or not wanted <= labels:
                continue
            as_dict = dict(labels)
            key = tuple(as_dict.get(k, "") for k in keys)
            sums[key] = sums.get(key, 0.0) + value
        return sums


@dataclass(frozen=True)
class Observation:
    """The newest scrape of a service and the one its rates are measured against."""

    current: Scrape
    previous: Scrape | None

    def rate(self, select: Callable[[Scrape], float]) -> float | None:
        """Per-second increase of a counter expression between the two scrapes."""
        if self.previous is None:
            return None
        elapsed = self.current.at - self.previous.at
        if elapsed <= 0:
            return None
        now, before = select(self.current), select(self.previous)
        # A counter that went down means the process restarted from zero.
        increase = now - before if now >= before else now
        return increase / elapsed


@dataclass
class MetricsSampler:
    """Remembers scrapes per service to turn counters into rates (not thread-safe;
    one per event loop is plenty)."""

    min_interval: float = 1.0
    clock: Callable[[], float] = time.monotonic
    keep: int = 16
    _history: dict[str, list[Scrape]] = field(default_factory=dict)

    def observe(self, service: str, text: str) -> Observation:
        """Parse a /metrics answer of ``service`` and pair it with its baseline."""
        current = Scrape(self.clock(), parse_samples(text))
        history = self._history.setdefault(service, [])
        old_enough = [s for s in history if current.at - s.at >= self.min_interval]
        previous = old_enough[-1] if old_enough else (history[0] if history else None)
        # Keep the newest baseline candidate and everything after it.
        start = history.index(old_enough[-1]) if old_enough else 0
        history[:] = [*history[start:], current][-self.keep :]
        return Observation(current, previous)

    def forget(self, service: str) -> None:
        self._history.pop(service, None)
