"""What the normalizers need to know about the tenant an input belongs to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant, its shop currency (used when a payload names none) and its time zone
    (used for timestamps written without an offset, e.g. in CSV files)."""

    tenant_id: str
    currency: str = "JPY"
    timezone: str = "Asia/Tokyo"

    def __post_init__(self) -> None:
        if not _CURRENCY.match(self.currency):
            raise ValueError(f"currency must be an ISO 4217 code, got {self.currency!r}")
        ZoneInfo(self.timezone)  # fail at construction, not on the first naive timestamp

    @property
    def zone(self) -> ZoneInfo:
        """The tenant's time zone."""
        return ZoneInfo(self.timezone)
