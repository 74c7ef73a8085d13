"""Statements whose SQL grows with a definition, compiled in a worker thread.

SQLAlchemy compiles a statement where it executes it: on the event loop. The
SQL of a definition grows with its conditions (2,000 leaves took 1.5 s to
compile, and every such second is a second without /healthz, heartbeats or
consumers). Here the statement is compiled once in a worker thread into SQL text
with typed bind parameters; the text is cheap to compile on the loop, and is
kept out of the compiled cache (every definition's text is new).
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ClauseElement,
    ColumnElement,
    Result,
    TextClause,
    bindparam,
    text,
)
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.compiler import SQLCompiler

# Named binds (":name") are what text() reads back; the asyncpg dialect then
# numbers them and adds its casts from the bind types, as for any statement.
_DIALECT = PGDialect(paramstyle="named")  # type: ignore[no-untyped-call]


def as_text(statement: ClauseElement) -> TextClause:
    """``statement`` as SQL text with its bind parameters (values and types) attached."""
    sql, binds = as_sql(statement)
    return text(sql).bindparams(*binds)


def as_sql(statement: ClauseElement) -> tuple[str, list[BindParameter[Any]]]:
    """``statement`` as SQL text and its bind parameters (values and types), to embed in
    a larger statement (named ``:param`` placeholders written in literal columns stay
    placeholders, bound at execution)."""
    compiled = cast(SQLCompiler, statement.compile(dialect=_DIALECT))
    values = compiled.construct_params()
    types = {name: bind.type for bind, name in compiled.bind_names.items()}
    binds = [bindparam(name, value, type_=types[name]) for name, value in values.items()]
    return compiled.string, binds


async def execute(
    session: AsyncSession, statement: ClauseElement, *columns: ColumnElement[Any]
) -> Result[Any]:
    """Execute ``statement`` compiled off the loop; ``columns`` type its result rows."""
    clause = await asyncio.to_thread(as_text, statement)
    runnable = clause.columns(*columns) if columns else clause
    return await session.execute(runnable, execution_options={"compiled_cache": None})
