"""CSV import rows (customers, orders) to canonical events.

Streaming use, one row at a time (the caller reads the file, numbers the lines and
drops exact duplicates by :func:`row_fingerprint`)::

    mapper = RowMapper("orders", reader.fieldnames, tenant, received_at=now, source="makeshop")
    grouper = OrderGrouper()
    for line_no, row in enumerate(reader, start=2):
        result = mapper.map_row(row)
        if isinstance(result, RowError):
            report(line_no, result.reason)
        elif (done := grouper.add(result)) is not None:
            publish(done)
    if (done := grouper.flush()) is not None:
        publish(done)

An order spans consecutive rows with the same order id, one line item per row; the
first row's order-level cells (total, dates, customer) win. Rows of one order that
are not consecutive become separate events, so files must be sorted by order id
(cart exports are). Event ids are derived from the content
(``stable_event_id(tenant, source, "csv", type, key, digest)``): re-importing the
same data gives the same ids, a corrected row a new event.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from crm_common.events import OrderPlaced, format_validation_error
from crm_common.normalize import clean_text
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.csv_columns import Columns, RowKind, resolve_columns
from crm_ingest.domain.csv_common import Cells, RowContext, content_id
from crm_ingest.domain.csv_customers import customer_row
from crm_ingest.domain.csv_orders import order_row
from crm_ingest.domain.errors import NormalizationError


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row was rejected; ``column`` as written in the file (None: whole row)."""

    column: str | None
    message: str

    @property
    def reason(self) -> str:
        """``column: message`` for an import report."""
        return f"{self.column}: {self.message}" if self.column else self.message


class RowMapper:
    """Maps rows of one CSV file, given its header; raises HeaderError at construction
    when the header lacks what the kind needs."""

    def __init__(
        self,
        kind: RowKind | str,
        header: Sequence[str],
        tenant: TenantContext,
        *,
        received_at: datetime,
        source: str = "csv",
        default_region: str = "JP",
    ) -> None:
        self.columns: Columns = resolve_columns(RowKind(kind), header)
        self.context = RowContext(tenant, source, received_at, default_region)

    def map_row(self, row: Mapping[str | None, Any]) -> Any:
        """One row to ``customer.upserted`` or a one-line ``order.placed`` (group these
        with :class:`OrderGrouper`), or a :class:`RowError`."""
        cells = Cells(self.columns, _cells(row))
        try:
            if self.columns.kind is RowKind.CUSTOMERS:
                return customer_row(cells, self.context)
            return order_row(cells, self.context)
        except NormalizationError as exc:
            return RowError(exc.path, exc.problem)
        except ValidationError as exc:  # a cleaned value the canonical model still refuses
            return RowError(None, format_validation_error(exc))


def _cells(row: Mapping[str | None, Any]) -> dict[str, str | None]:
    # csv.DictReader puts surplus cells under None and fills short rows with None.
    return {key: value if isinstance(value, str) else None for key, value in row.items() if key}


class OrderGrouper:
    """Joins consecutive one-line ``order.placed`` events of the same order."""

    def __init__(self) -> None:
        self._current: OrderPlaced | None = None

    def add(self, event: OrderPlaced) -> OrderPlaced | None:
        """Take the next row's event; returns the previous order once it is complete."""
        current = self._current
        if current is not None and current.data.order_id == event.data.order_id:
            lines = [*current.data.lines, *event.data.lines]
            data = current.data.model_copy(update={"lines": lines})
            event_id = content_id(
                current.tenant_id, current.source, current.type, data.order_id, data
            )
            self._current = current.model_copy(update={"data": data, "event_id": event_id})
            return None
        self._current = event
        return current

    def flush(self) -> OrderPlaced | None:
        """The last order, at the end of the file."""
        current, self._current = self._current, None
        return current


def row_fingerprint(row: Mapping[str | None, Any]) -> str:
    """Identifies a row's content (cleaned, so full-width and half-width copies of the
    same row match) for dropping exact duplicates."""
    cells = sorted((key, clean_text(value) or "") for key, value in _cells(row).items())
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()
