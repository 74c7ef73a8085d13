"""Async SQLAlchemy 2.0 engine and session lifecycle.

Build one :class:`Database` per process in the app's lifespan, close it on
shutdown. The boundary (a request, a consumed batch) owns the transaction::

    async with db.transaction() as session:
        await repository.save(session, thing)   # repositories flush, never commit
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import orjson
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from crm_common.settings import PostgresSettings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_metadata(schema: str) -> MetaData:
    """The MetaData of one service's schema, with constraint naming for Alembic."""
    return MetaData(schema=schema, naming_convention=NAMING_CONVENTION)


class Database:
    """An engine and a session factory for one PostgreSQL database."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.engine: AsyncEngine = create_async_engine(
            url,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            echo=echo,
            # Errors name the statement, never its bound values (attributes of people):
            # their text reaches logs and dead letters.
            hide_parameters=True,
            # orjson for JSONB columns: the stdlib codec was the top CPU cost in profiling.
            json_serializer=lambda obj: orjson.dumps(obj).decode(),
            json_deserializer=orjson.loads,
        )
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @classmethod
    def from_settings(cls, settings: PostgresSettings) -> Database:
        return cls(settings.url(), pool_size=settings.pool_size)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on exit, rolled back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def ping(self) -> None:
        """Raise unless a round trip to the server succeeds."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()
