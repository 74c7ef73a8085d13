"""Run every benchmark stage, print the table, write bench/results/latest.json.

Stages after ``raw`` are modules ``bench/<stage>.py`` with
``async def run(env, limits) -> list[Row]``; ``limits`` maps each raw metric to
its value in this run, so every stage reports a ratio to the same-run limit.
``--update-readme`` rewrites the table between the bench markers in README.md.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import raw
from bench.common import BenchEnv, Row, as_dicts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
STAGES = ("ingest", "front", "profile", "segment", "messaging", "history")


async def main(only: set[str]) -> list[Row]:
    env = await BenchEnv.create()
    rows: list[Row] = []
    try:
        rows += await raw.kafka_limits(env)
        rows += await raw.postgres_limits(env)
        limits = {r.metric: r.value for r in rows}
        for stage in STAGES:
            if only and stage not in only:
                continue
            if not (ROOT / "bench" / f"{stage}.py").exists():
                continue
            module = importlib.import_module(f"bench.{stage}")
            print(f"running stage {stage} ...", flush=True)
            try:
                rows += await module.run(env, limits)
            except Exception as exc:  # one broken stage must not discard the others' rows
                print(f"stage {stage} failed: {exc!r}", flush=True)
                rows.append(Row(stage, "stage_failed", 1, repr(exc)[:80]))
    finally:
        await env.drop()
    return rows


def table(rows: list[Row]) -> str:
    lines = ["| stage | metric | value | unit | limit_ratio |", "| --- | --- | ---: | --- | ---: |"]
    for r in rows:
        ratio = "–" if r.limit_ratio is None else f"{r.limit_ratio:.3f}"
        lines.append(f"| {r.stage} | {r.metric} | {r.value:,.1f} | {r.unit} | {ratio} |")
    return "\n".join(lines)


def update_readme(rows: list[Row], meta: dict[str, object]) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- bench-table -->", "<!-- /bench-table -->"
    if start not in text or end not in text:
        return
    body = (
        f"{start}\nMeasured {meta['date']} on `{meta['machine']}` ({meta['cpus']} cores), "
        f"`make bench`:\n\n{table(rows)}\n{end}"
    )
    head, rest = text.split(start, 1)
    readme.write_text(head + body + rest.split(end, 1)[1])


if __name__ == "__main__":
    args = sys.argv[1:]
    only = {a for a in args if not a.startswith("--")}
    started = time.time()
    rows = asyncio.run(main(only))
    print(table(rows))
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "scale": float(os.environ.get("BENCH_SCALE", "1")),
        "seconds": round(time.time() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(as_dicts(rows), indent=2) + "\n")
    (RESULTS / "latest.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    if "--update-readme" in args:
        update_readme(rows, meta)
    print(f"\nwritten {RESULTS / 'latest.json'} ({meta['date']}, {meta['seconds']} s)")
