from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import asdict, dataclass

import asyncpg

from crm_common.settings import KafkaSettings, PostgresSettings


@dataclass
class Row:
    stage: str
    metric: str
    value: float
    unit: str
    limit_ratio: float | None = None


@dataclass
class BenchEnv:
    kafka: KafkaSettings
    postgres: PostgresSettings
    admin_dsn: str

    @classmethod
    async def create(cls) -> BenchEnv:
        run = uuid.uuid4().hex[:8]
        pg = PostgresSettings()
        admin = pg.url("postgresql", database="postgres")
        db = f"crm_bench_{run}"
        conn = await asyncpg.connect(admin)
        await conn.execute(f'CREATE DATABASE "{db}"')
        await conn.close()
        return cls(
            kafka=KafkaSettings(topic_prefix=f"bench{run}."),
            postgres=pg.model_copy(update={"database": db}),
            admin_dsn=admin,
        )

    async def drop(self) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        conn = await asyncpg.connect(self.admin_dsn)
        await conn.execute(f'DROP DATABASE IF EXISTS "{self.postgres.database}" WITH (FORCE)')
        await conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=self.kafka.bootstrap_servers)
        await admin.start()
        topics = [t for t in await admin.list_topics() if t.startswith(self.kafka.topic_prefix)]
        if topics:
            await admin.delete_topics(topics)
        await admin.close()


def scale(default: int) -> int:
    """BENCH_SCALE=0.1 runs a quick smoke version."""
    return max(1, int(default * float(os.environ.get("BENCH_SCALE", "1"))))


def as_dicts(rows: list[Row]) -> list[dict[str, object]]:
    return [asdict(r) for r in rows]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]
