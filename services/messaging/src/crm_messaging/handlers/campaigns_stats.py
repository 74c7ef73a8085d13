"""Results of a campaign or a journey in the one stats shape the dashboard reads.

``{"id", "totals": {sent, delivered, opened, clicked, converted, revenue,
skipped: {reason: n}}, "steps": [{"step_id", ...same counters}]}``; revenue is
a decimal string (exact), the sum of attributed, not cancelled order totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.repository import stats as repo

_COUNTS = ("sent", "delivered", "opened", "clicked", "converted")


def _empty() -> dict[str, Any]:
    return {**dict.fromkeys(_COUNTS, 0), "revenue": Decimal(0), "skipped": {}}


def money(value: Decimal) -> str:
    """Exact and plain: 12000.0000 -> "12000", 409.9400 -> "409.94"."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _public(counters: dict[str, Any]) -> dict[str, Any]:
    return {**counters, "revenue": money(counters["revenue"]), "skipped": dict(counters["skipped"])}


def _total(steps: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total = _empty()
    for step in steps:
        for name in _COUNTS:
            total[name] += step[name]
        total["revenue"] += step["revenue"]
        for reason, n in step["skipped"].items():
            total["skipped"][reason] = total["skipped"].get(reason, 0) + n
    return total


async def stats(
    session: AsyncSession, tenant_id: str, kind: str, source_id: str, *, with_steps: bool
) -> dict[str, Any]:
    counts, skipped, converted = await repo.source_stats(session, tenant_id, kind, source_id)
    steps: dict[str | None, dict[str, Any]] = {}
    for row in counts:
        step = steps.setdefault(row.step, _empty())
        for name in ("sent", "delivered", "opened", "clicked"):
            step[name] = int(getattr(row, name))
    for row in skipped:
        steps.setdefault(row.step, _empty())["skipped"][row.reason] = int(row.n)
    for row in converted:
        step = steps.setdefault(row.step, _empty())
        step["converted"] = int(row.converted)
        step["revenue"] = Decimal(row.revenue)
    out: dict[str, Any] = {"id": source_id, "totals": _public(_total(steps.values()))}
    if with_steps:
        ordered = sorted(steps.items(), key=lambda item: (item[0] is None, item[0] or ""))
        out["steps"] = [{"step_id": sid, **_public(c)} for sid, c in ordered]
    return out
