"""What the API and handlers share inside one ingest process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crm_common.db import Database
from crm_common.kafka import Producer
from crm_ingest.config import Settings
from crm_ingest.shopcache import ShopCache

if TYPE_CHECKING:
    from crm_ingest.importer import ImportWorker


@dataclass
class IngestContext:
    settings: Settings
    db: Database
    producer: Producer
    shops: ShopCache
    imports: ImportWorker
