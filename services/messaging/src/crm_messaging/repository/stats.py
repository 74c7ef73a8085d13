"""Results per campaign or journey step, read from messages, engagements and attributions.

A journey's messages are those with ``source_kind = 'journey'`` and a source id
that is the journey id or starts with ``<journey id>/`` (``journey/step/run``);
their step is ``step_id``, else the second part of the source id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from crm_messaging.config import SCHEMA

_SOURCE = """
    tenant_id = :tenant_id AND source_kind = :kind
    AND (source_id = :source_id OR starts_with(source_id, :source_id || '/'))
"""
_STEP = "coalesce(step_id, nullif(split_part(source_id, '/', 2), ''))"

# Delivered: the provider said so, or (email, postal DM, call list) it left us
# and no hard bounce came back.
_COUNTS = text(
    f"""
    SELECT {_STEP} AS step,
           count(*) FILTER (WHERE m.sent_at IS NOT NULL) AS sent,
           count(*) FILTER (
               WHERE m.delivered_at IS NOT NULL
                  OR (m.state = 'sent' AND m.channel IN ('email', 'postal_dm', 'call')
                      AND NOT starts_with(coalesce(m.bounce, ''), 'hard'))
           ) AS delivered,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM {SCHEMA}.message_engagements e
               WHERE e.message_id = m.message_id AND e.kind = 'opened')) AS opened,
           count(*) FILTER (WHERE EXISTS (
               SELECT 1 FROM {SCHEMA}.message_engagements e
               WHERE e.message_id = m.message_id AND e.kind = 'clicked')) AS clicked
    FROM {SCHEMA}.messages m
    WHERE {_SOURCE}
    GROUP BY 1
    """
)
_SKIPPED = text(
    f"""
    SELECT {_STEP} AS step, coalesce(reason, 'unknown') AS reason, count(*) AS n
    FROM {SCHEMA}.messages
    WHERE {_SOURCE} AND state = 'skipped'
    GROUP BY 1, 2
    """
)
_CONVERTED = text(
    f"""
    SELECT {_STEP} AS step, count(*) AS converted, coalesce(sum(revenue), 0) AS revenue
    FROM {SCHEMA}.attributions
    WHERE {_SOURCE} AND cancelled_at IS NULL
    GROUP BY 1
    """
)


async def _rows(
    session: AsyncSession, query: Any, tenant_id: str, kind: str, source_id: str
) -> Sequence[Row[Any]]:
    params = {"tenant_id": tenant_id, "kind": kind, "source_id": source_id}
    return (await session.execute(query, params)).all()


async def source_stats(
    session: AsyncSession, tenant_id: str, kind: str, source_id: str
) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]], Sequence[Row[Any]]]:
    """(counts per step, skipped per step and reason, conversions per step)."""
    return (
        await _rows(session, _COUNTS, tenant_id, kind, source_id),
        await _rows(session, _SKIPPED, tenant_id, kind, source_id),
        await _rows(session, _CONVERTED, tenant_id, kind, source_id),
    )
