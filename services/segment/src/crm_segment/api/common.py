"""Transactions of the segment routes whose cost a definition decides."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession

from crm_segment.context import SegmentContext
from crm_segment.repository.timeouts import bounded


def querying(ctx: SegmentContext, what: str) -> AbstractAsyncContextManager[AsyncSession]:
    """A transaction for a preview, a count or a verification (statement timeout
    ``SEGMENT_QUERY_TIMEOUT_SECONDS``)."""
    seconds = ctx.settings.service.query_timeout_seconds
    return bounded(ctx.db, seconds, what, "query_timeout_seconds")


def filling(ctx: SegmentContext, what: str) -> AbstractAsyncContextManager[AsyncSession]:
    """A transaction for a change that fills segments: create, edit, install
    (statement timeout ``SEGMENT_FILL_TIMEOUT_SECONDS``)."""
    seconds = ctx.settings.service.fill_timeout_seconds
    return bounded(ctx.db, seconds, what, "fill_timeout_seconds")
