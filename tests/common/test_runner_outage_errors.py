"""A PostgreSQL crash restart is an outage, never a reason to dead-letter.

Found by the fault run (issue 17): after ``pg_ctl restart -m immediate`` the server
answers "the database system is starting up" (SQLSTATE 57P03) and then "not yet
accepting connections" for a few seconds. asyncpg raises these as plain server errors,
which SQLAlchemy wraps as a bare ``DBAPIError`` (not an ``OperationalError``, the
connection not invalidated), so every consumer retried each record three times and
dead-lettered it: raw webhooks never normalized, profiles short of orders. The errors
below are built exactly as SQLAlchemy's asyncpg dialect builds them."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi
from sqlalchemy.exc import DBAPIError

from crm_common.kafka._runner import _is_transient


def _as_sqlalchemy_raises(error: Exception) -> DBAPIError:
    adapted = AsyncAdapt_asyncpg_dbapi.Error(str(error), error)
    return DBAPIError.instance("SELECT 1", {}, adapted, AsyncAdapt_asyncpg_dbapi.Error)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.CannotConnectNowError("the database system is not yet accepting"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
        asyncpg.exceptions.CrashShutdownError("terminating connection due to crash"),
        asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.exceptions.ConnectionFailureError("connection failure"),
    ],
)
def test_a_server_restarting_or_away_is_retried_not_dead_lettered(error: Exception) -> None:
    wrapped = _as_sqlalchemy_raises(error)
    assert type(wrapped) is DBAPIError and not wrapped.connection_invalidated
    assert _is_transient(wrapped)


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
        asyncpg.exceptions.UniqueViolationError("duplicate key value"),
        asyncpg.exceptions.DataError("invalid input syntax"),
    ],
)
def test_what_the_message_causes_still_counts_against_it(error: Exception) -> None:
    assert not _is_transient(_as_sqlalchemy_raises(error))
