"""``python -m crm_ingest serve|migrate|replay-dlq``."""

from __future__ import annotations

import asyncio
from datetime import datetime

import typer

from crm_common.db import Database
from crm_common.kafka import Producer
from crm_common.service import service_cli
from crm_ingest.config import IngestService, Settings
from crm_ingest.handlers import dlq

cli = service_cli("crm_ingest", IngestService, Settings)


@cli.command("replay-dlq")
def replay_dlq(
    consumer: str | None = typer.Option(None, help="Only letters of this consumer group"),
    since: datetime | None = typer.Option(None, help="Only letters failed at or after (ISO)"),
    tenant: str | None = typer.Option(None, help="Only this tenant's letters"),
) -> None:
    """Re-publish dead letters' original bytes to their original topics (each once)."""
    if since is not None and since.tzinfo is None:
        raise typer.BadParameter("--since must carry a UTC offset, e.g. 2026-11-23T00:00:00Z")
    count = asyncio.run(_replay(consumer, since, tenant))
    typer.echo(f"replayed {count} dead letter(s)")


async def _replay(consumer: str | None, since: datetime | None, tenant: str | None) -> int:
    settings = Settings()
    db = Database.from_settings(settings.postgres)
    producer = Producer(settings.kafka, client_id="crm-ingest-replay")
    await producer.start()
    try:
        return await dlq.replay(
            db,
            producer,
            settings.kafka,
            consumer=consumer,
            since=since,
            tenant_id=tenant,
            who="cli",
        )
    finally:
        await producer.stop()
        await db.close()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
