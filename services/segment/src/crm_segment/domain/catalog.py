"""A tenant's live segments, indexed by what they read.

Built from the active dynamic segments of one tenant; answers which segments a
change of some traits, an event type or some segment memberships can affect,
always in dependency order (a segment after the segments it references).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from crm_segment.domain.compiled import Batch, Check, Compiler, Source
from crm_segment.domain.definition import Definition
from crm_segment.domain.graph import topological_order
from crm_segment.domain.index import Refs, references


@dataclass(frozen=True, slots=True)
class LiveSegment:
    segment_id: str
    definition: Definition
    refs: Refs
    time_dependent: bool  # itself, or through a segment it references
    check: Check  # the definition compiled (domain/compiled.py)


@dataclass(frozen=True)
class TenantCatalog:
    version: int
    segments: Mapping[str, LiveSegment]
    order: tuple[str, ...]
    _rank: Mapping[str, int] = field(repr=False)
    _by_head: Mapping[str, frozenset[str]] = field(repr=False)
    _by_event: Mapping[str, frozenset[str]] = field(repr=False)
    _dependents: Mapping[str, frozenset[str]] = field(repr=False)
    _by_source: Mapping[Source, frozenset[str]] = field(repr=False, default_factory=dict)
    filling: frozenset[str] = frozenset()  # live segments a job is filling (claims)
    _key_memo: dict[str, frozenset[str]] = field(default_factory=dict, repr=False, compare=False)

    @property
    def all_ids(self) -> frozenset[str]:
        return frozenset(self.segments)

    @property
    def time_dependent(self) -> frozenset[str]:
        return frozenset(s for s, live in self.segments.items() if live.time_dependent)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._by_event)

    def by_fields(self, changed: Iterable[str]) -> set[str]:
        """Segments reading any of these trait keys (or paths overlapping them)."""
        found: set[str] = set()
        for key in changed:
            found |= self._by_key(key)
        return found

    def _by_key(self, key: str) -> frozenset[str]:
        # Memoised per key: every changed profile asks, and keys repeat.
        cached = self._key_memo.get(key)
        if cached is None:
            if len(self._key_memo) > 10_000:  # keys come from data: bound the memo
                self._key_memo.clear()
            cached = self._key_memo[key] = frozenset(
                segment_id
                for segment_id in self._by_head.get(key.split(".")[0], ())
                if self.segments[segment_id].refs.affected_by_fields([key])
            )
        return cached

    def next_changes(self, batch: Batch) -> list[datetime | None]:
        """Per profile, the first moment after ``now`` at which a relative condition of
        any live segment flips: no membership can move by time alone before it."""
        found: list[datetime | None] = [None] * batch.size
        now = batch.now
        for source in self._by_source:
            for index, moment in source.edges(batch):
                if moment > now:
                    current = found[index]
                    if current is None or moment < current:
                        found[index] = moment
        return found

    def moved(self, batch: Batch, since: Sequence[datetime]) -> list[set[str]]:
        """Per profile, the segments one of whose own relative conditions flipped in
        ``[since, now]`` (dependents not included: see :meth:`closure`)."""
        found: list[set[str]] = [set() for _ in range(batch.size)]
        now = batch.now
        for source, segment_ids in self._by_source.items():
            for index, moment in source.edges(batch):
                if since[index] <= moment <= now:
                    found[index] |= segment_ids
        return found

    @property
    def fill_order(self) -> tuple[str, ...]:
        """The segments jobs are filling, in evaluation order (claims are taken in it)."""
        return tuple(sorted(self.filling, key=self._rank.__getitem__))

    @property
    def window_types(self) -> frozenset[str]:
        """Event types whose ``last`` windows move memberships as time passes."""
        return frozenset(src.event for src in self._by_source if src.event is not None)

    def by_event(self, event_type: str) -> frozenset[str]:
        return self._by_event.get(event_type, frozenset())

    def downstream_of(self, segment_id: str) -> list[str]:
        """After ``segment_id`` changed: itself if live, and every live segment reading it."""
        readers = {s for s, live in self.segments.items() if segment_id in live.refs.segment_ids}
        return self.closure({segment_id, *readers})

    def closure(self, segment_ids: Iterable[str]) -> list[str]:
        """These segments and every segment depending on them, in evaluation order."""
        wanted: set[str] = set()
        for segment_id in segment_ids:
            if segment_id in self.segments:
                wanted.add(segment_id)
                wanted |= self._dependents.get(segment_id, frozenset())
        return sorted(wanted, key=self._rank.__getitem__)


def build_catalog(
    version: int, definitions: Mapping[str, Definition], filling: Iterable[str] = ()
) -> TenantCatalog:
    """The catalog of these live segments (references to others are static), each
    definition compiled once. CPU-bound: callers on an event loop use a worker thread."""
    refs = {sid: references(d) for sid, d in definitions.items()}
    compiler = Compiler()
    compiled = {sid: compiler.compile(d) for sid, d in definitions.items()}
    edges = {sid: set(r.segment_ids) & set(definitions) for sid, r in refs.items()}
    order = topological_order(edges)
    timed: dict[str, bool] = {}
    for sid in order:  # referenced segments first
        timed[sid] = refs[sid].time_dependent or any(timed[t] for t in edges[sid])
    return TenantCatalog(
        version=version,
        segments={
            sid: LiveSegment(sid, definitions[sid], refs[sid], timed[sid], compiled[sid].check)
            for sid in definitions
        },
        order=tuple(order),
        _rank={sid: i for i, sid in enumerate(order)},
        _by_head=_index((sid, f.split(".")[0]) for sid, r in refs.items() for f in r.fields),
        _by_event=_index((sid, e) for sid, r in refs.items() for e in r.event_types),
        _dependents=_dependents(edges, order),
        _by_source=_index_sources((sid, c.sources) for sid, c in compiled.items()),
        filling=_filling(filling, refs, order),
    )


def _filling(jobs: Iterable[str], refs: Mapping[str, Refs], order: list[str]) -> frozenset[str]:
    """The live segments a job fills: its own (if live) and every live one reading it,
    however indirectly (a 固定 segment's job refills its live readers)."""
    found = set(jobs)
    for sid in order:  # readers come after what they read
        if refs[sid].segment_ids & found:
            found.add(sid)
    return frozenset(found) & frozenset(refs)


def _index_sources(
    pairs: Iterable[tuple[str, frozenset[Source]]],
) -> dict[Source, frozenset[str]]:
    found: dict[Source, set[str]] = defaultdict(set)
    for segment_id, sources in pairs:
        for source in sources:
            found[source].add(segment_id)
    return {source: frozenset(ids) for source, ids in found.items()}


def _index(pairs: Iterable[tuple[str, str]]) -> dict[str, frozenset[str]]:
    found: dict[str, set[str]] = defaultdict(set)
    for segment_id, key in pairs:
        found[key].add(segment_id)
    return {key: frozenset(ids) for key, ids in found.items()}


def _dependents(edges: Mapping[str, set[str]], order: list[str]) -> dict[str, frozenset[str]]:
    direct: dict[str, set[str]] = defaultdict(set)
    for sid, targets in edges.items():
        for target in targets:
            direct[target].add(sid)
    closed: dict[str, frozenset[str]] = {}
    for sid in reversed(order):  # dependents come later in the order: resolve them first
        found = set(direct[sid])
        for dependent in direct[sid]:
            found |= closed[dependent]
        closed[sid] = frozenset(found)
    return closed
