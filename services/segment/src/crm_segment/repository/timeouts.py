"""Statement timeouts for work whose cost a definition decides.

``SET LOCAL statement_timeout`` (through ``set_config(..., true)``, which takes a
bind parameter) lasts until the end of the transaction: each statement of a
preview, count, fill or verification is cancelled by PostgreSQL once it runs
longer, the transaction rolls back and the caller gets :class:`QueryTimeoutError`
instead of a worker held for as long as the query cares to run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database

QUERY_CANCELED = "57014"  # SQLSTATE of statement_timeout (and of a cancel request)


class QueryTimeoutError(RuntimeError):
    """A statement ran past its timeout; ``setting`` names the timeout's setting."""

    def __init__(self, what: str, seconds: float, setting: str) -> None:
        super().__init__(
            f"the {what} ran longer than its statement timeout of {seconds:g} s and was"
            " cancelled; narrow the definition, or try again when the service is less busy"
        )
        self.what = what
        self.seconds = seconds
        self.setting = setting


async def limit_statements(session: AsyncSession, seconds: float) -> None:
    """Cancel any later statement of this transaction that runs longer than ``seconds``."""
    milliseconds = max(1, round(seconds * 1000))
    await session.execute(select(func.set_config("statement_timeout", str(milliseconds), True)))


def canceled(exc: BaseException) -> bool:
    """Whether a database error is PostgreSQL cancelling a statement (SQLSTATE 57014)."""
    orig = getattr(exc, "orig", None)
    for candidate in (orig, getattr(orig, "__cause__", None)):
        if getattr(candidate, "sqlstate", None) == QUERY_CANCELED:
            return True
    return False


@asynccontextmanager
async def bounded(
    db: Database, seconds: float, what: str, setting: str
) -> AsyncIterator[AsyncSession]:
    """A transaction whose every statement is cancelled after ``seconds``."""
    try:
        async with db.transaction() as session:
            await limit_statements(session, seconds)
            yield session
    except DBAPIError as exc:
        if canceled(exc):
            raise QueryTimeoutError(what, seconds, setting) from None
        raise
