"""Reading list answers whatever their envelope key (items, journeys, segments ...)."""

from __future__ import annotations

from typing import Any

from crm_dashboard.clients import Fetched

KEYS = ("items", "journeys", "campaigns", "segments", "templates", "runs", "days", "members")


def items_of(fetched: Fetched, *keys: str) -> list[Any]:
    """The list inside an answer: the first of ``keys`` (or the usual ones) present."""
    data = fetched.data
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return []
    for key in keys or KEYS:
        value = data.get(key)
        if isinstance(value, list):
            return value
    return []


def identifier_query(q: str) -> dict[str, str]:
    """What a search box text looks like: an email, a platform id, or a phone."""
    q = q.strip()
    if "@" in q:
        return {"email": q}
    if ":" in q:
        return {"external_id": q}
    return {"phone": q}
