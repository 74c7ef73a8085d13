"""Test infrastructure: one real Kafka and one real PostgreSQL for the whole run.

Where they come from, in order:
1. ``CRM_TEST_KAFKA_BOOTSTRAP`` and ``CRM_TEST_POSTGRES_URL`` (already running);
2. testcontainers, when a Docker daemon answers;
3. the project's own local stack (``crm-stack infra``), started if not running.

Each run is isolated: a fresh database ``crm_test_<id>`` (every service schema
migrated into it) and a topic prefix ``t<id>.``; both are removed at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests" / "support"))
SERVICES = ("ingest", "profile", "segment", "messaging", "dashboard")
# Service processes the tests start run in dev mode (the published default secrets
# are accepted); tests/test_secrets.py starts them without it.
os.environ.setdefault("CRM_DEV_MODE", "1")


@dataclass
class Infra:
    bootstrap: str
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    database: str
    topic_prefix: str
    how: str
    env: dict[str, str] = field(default_factory=dict)

    def pg_url(self, driver: str = "postgresql+asyncpg", database: str | None = None) -> str:
        auth = f"{self.pg_user}:{self.pg_password}@" if self.pg_password else f"{self.pg_user}@"
        return f"{driver}://{auth}{self.pg_host}:{self.pg_port}/{database or self.database}"

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def kafka_settings(self, **overrides: object):  # type: ignore[no-untyped-def]
        from crm_common.settings import KafkaSettings

        return KafkaSettings(
            bootstrap_servers=self.bootstrap, topic_prefix=self.topic_prefix, **overrides
        )

    def postgres_settings(self):  # type: ignore[no-untyped-def]
        from crm_common.settings import PostgresSettings

        return PostgresSettings(
            host=self.pg_host,
            port=self.pg_port,
            user=self.pg_user,
            password=self.pg_password,
            database=self.database,
        )


def _docker_answers() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _from_env() -> tuple[str, str, int, str, str, str] | None:
    bootstrap = os.environ.get("CRM_TEST_KAFKA_BOOTSTRAP")
    url = os.environ.get("CRM_TEST_POSTGRES_URL")
    if not (bootstrap and url):
        return None
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return (
        bootstrap,
        u.host or "127.0.0.1",
        u.port or 5432,
        u.username or "postgres",
        u.password or "",
        "env",
    )


def _from_testcontainers(stack: list[object]) -> tuple[str, str, int, str, str, str]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    kafka = KafkaContainer("apache/kafka:3.9.1").with_kraft()
    pg = PostgresContainer("postgres:18", username="postgres", password="postgres")
    kafka.start()
    pg.start()
    stack.extend([kafka, pg])
    return (
        kafka.get_bootstrap_server(),
        pg.get_container_host_ip(),
        int(pg.get_exposed_port(5432)),
        "postgres",
        "postgres",
        "testcontainers",
    )


def _from_local_stack() -> tuple[str, str, int, str, str, str]:
    subprocess.run([sys.executable, "-m", "crm_localstack.cli", "infra"], check=True, cwd=ROOT)
    from crm_common.settings import KafkaSettings, PostgresSettings

    ks, pg = KafkaSettings(), PostgresSettings()
    return (
        ks.bootstrap_servers,
        pg.host,
        pg.port,
        pg.user,
        pg.password.get_secret_value(),
        "local stack",
    )


async def _create_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


def _run_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    containers: list[object] = []
    found = _from_env()
    if found is None:
        found = _from_testcontainers(containers) if _docker_answers() else _from_local_stack()
    bootstrap, host, port, user, password, how = found
    run = _run_id()
    inf = Infra(bootstrap, host, port, user, password, f"crm_test_{run}", f"t{run}.", how)
    admin_url = inf.pg_url("postgresql", database="postgres")
    asyncio.run(_create_database(admin_url, inf.database))
    inf.env = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "KAFKA_TOPIC_PREFIX": inf.topic_prefix,
        "POSTGRES_HOST": host,
        "POSTGRES_PORT": str(port),
        "POSTGRES_USER": user,
        "POSTGRES_PASSWORD": password,
        "POSTGRES_DATABASE": inf.database,
    }
    from crm_common.kafka import ensure_topics
    from crm_common.migrations import upgrade

    for name in SERVICES:
        upgrade(f"crm_{name}", inf.pg_url())
    asyncio.run(ensure_topics(inf.kafka_settings()))
    try:
        yield inf
    finally:
        asyncio.run(_drop_database(admin_url, inf.database))
        asyncio.run(_delete_topics(bootstrap, inf.topic_prefix))
        for container in containers:
            container.stop()  # type: ignore[attr-defined]


@pytest.fixture
def subprocess_env(infra: Infra) -> dict[str, str]:
    """Environment for a child process that must use this run's Kafka and database."""
    return {**os.environ, **infra.env, "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def lane(infra: Infra) -> Infra:
    """The run's engines with topics of this test module's own (a sub-prefix).

    Service processes a module starts read only what the module produced: an
    earlier module's unconsumed records (thousands, after the ingest tests) are
    not in their way, and nothing of theirs leaks into a later module. The
    session's cleanup deletes these topics with the run's prefix.
    """
    from crm_common.kafka import ensure_topics

    prefix = f"{infra.topic_prefix}{uuid.uuid4().hex[:6]}."
    mine = dataclasses.replace(
        infra, topic_prefix=prefix, env={**infra.env, "KAFKA_TOPIC_PREFIX": prefix}
    )
    asyncio.run(ensure_topics(mine.kafka_settings()))
    return mine
