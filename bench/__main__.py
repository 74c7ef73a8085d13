"""Run every benchmark stage, print the table, write bench/results/latest.json."""

from __future__ import annotations

import asyncio
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import raw
from bench.common import BenchEnv, Row, as_dicts

RESULTS = Path(__file__).resolve().parent / "results"


async def main() -> list[Row]:
    env = await BenchEnv.create()
    rows: list[Row] = []
    try:
        rows += await raw.kafka_limits(env)
        rows += await raw.postgres_limits(env)
    finally:
        await env.drop()
    return rows


def print_table(rows: list[Row]) -> None:
    print(f"{'stage':<10}{'metric':<34}{'value':>14}  {'unit':<12}{'limit_ratio':>12}")
    for r in rows:
        ratio = "-" if r.limit_ratio is None else f"{r.limit_ratio:.3f}"
        print(f"{r.stage:<10}{r.metric:<34}{r.value:>14,.1f}  {r.unit:<12}{ratio:>12}")


if __name__ == "__main__":
    started = time.time()
    rows = asyncio.run(main())
    print_table(rows)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(as_dicts(rows), indent=2) + "\n")
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": platform.node(),
        "cpus": __import__("os").cpu_count(),
        "python": platform.python_version(),
        "seconds": round(time.time() - started, 1),
    }
    (RESULTS / "latest.meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"\nwritten {RESULTS / 'latest.json'} ({meta['date']}, {meta['seconds']} s)")
