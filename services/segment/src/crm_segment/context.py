"""What the API, the consumers and the sweeper share in one process."""

from __future__ import annotations

from dataclasses import dataclass, field

from crm_common.clock import Clock
from crm_common.db import Database
from crm_segment.config import Settings
from crm_segment.domain.limits import DefinitionLimits
from crm_segment.handlers.catalogs import CatalogCache


@dataclass
class SegmentContext:
    settings: Settings
    db: Database
    clock: Clock
    limits: DefinitionLimits = field(init=False)
    catalogs: CatalogCache = field(init=False)

    def __post_init__(self) -> None:
        self.limits = self.settings.service.limits()
        self.catalogs = CatalogCache(self.limits)
