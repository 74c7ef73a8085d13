"""CSV import rows (customers, orders) to canonical events.

Streaming use, one row at a time (the caller reads the file, numbers the lines and
drops exact duplicates by :func:`row_fingerprint`)::

    mapper = RowMapper("orders", reader.fieldnames, tenant, received_at=now, source="makeshop")
    grouper = OrderGrouper()
    for line_no, row in enumerate(reader, start=2):
        result = mapper.map_row(row)
        if isinstance(result, RowError):
            report(line_no, result.reason)
        elif (done := grouper.add(result, line_no)) is not None:
            publish(done)  # an order.placed, or an OrderTooLarge to report
    if (done := grouper.flush()) is not None:
        publish(done)

An order spans consecutive rows with the same order id, one line item per row; the
first row's order-level cells (total, dates, customer) win. Rows of one order that
are not consecutive become separate events, so files must be sorted by order id
(cart exports are). An order of more than ``MAX_ORDER_LINES`` lines is refused
whole (:class:`OrderTooLarge`): one event must carry it through the outbox and the
broker.

Event ids name the fact, not the upload (see :mod:`.csv_orders` and
:mod:`.csv_customers`). A fact may be told by several events, most specific
first (:meth:`RowMapper.facts`: an order's placement, then its current state);
:func:`~.facts.first_news` keeps, per fact, the first one not published before.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from crm_common.events import (
    CustomerUpserted,
    OrderLine,
    OrderPlaced,
    OrderUpdated,
    format_validation_error,
)
from crm_common.normalize import clean_text
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.csv_columns import Columns, RowKind, resolve_columns
from crm_ingest.domain.csv_common import Cells, RowContext
from crm_ingest.domain.csv_customers import customer_row
from crm_ingest.domain.csv_orders import ORDER_FIELDS, OrderHead, OrderRow, order_head, order_row
from crm_ingest.domain.csv_presets import preset_for
from crm_ingest.domain.errors import NormalizationError
from crm_ingest.domain.facts import tellings
from crm_ingest.domain.limits import MAX_ORDER_LINES


@dataclass(frozen=True, slots=True)
class RowError:
    """Why a row was rejected; ``column`` as written in the file (None: whole row)."""

    column: str | None
    message: str

    @property
    def reason(self) -> str:
        """``column: message`` for an import report."""
        return f"{self.column}: {self.message}" if self.column else self.message


@dataclass(frozen=True, slots=True)
class OrderTooLarge:
    """An order with more lines than ``limit``, refused whole (one rejected row)."""

    order_id: str
    line: int  # where the order's first row starts
    lines: int
    limit: int = MAX_ORDER_LINES

    @property
    def reason(self) -> str:
        """For an import report: the order, its size and the limit."""
        return (
            f"order {self.order_id!r} has {self.lines:,} lines; "
            f"at most {self.limit:,} lines per order are accepted"
        )


class RowMapper:
    """Maps rows of one CSV file, given its header; raises HeaderError at construction
    when the header lacks what the kind needs. ``preset``: the name of the cart export
    the file is (:mod:`.csv_presets`; UnknownPreset if there is none for the kind)."""

    def __init__(
        self,
        kind: RowKind | str,
        header: Sequence[str],
        tenant: TenantContext,
        *,
        received_at: datetime,
        source: str = "csv",
        default_region: str = "JP",
        preset: str | None = None,
    ) -> None:
        row_kind = RowKind(kind)
        chosen = preset_for(preset, row_kind) if preset else None
        self.columns: Columns = resolve_columns(row_kind, header, chosen)
        self.context = RowContext(tenant, source, received_at, default_region)
        heads = (self.columns.headers(f) for f in ORDER_FIELDS)
        self._head_columns = tuple(column for columns in heads for column in columns)
        self._head_key: tuple[Any, ...] | None = None
        self._head: OrderHead | RowError | None = None

    def map_row(self, row: Mapping[str | None, Any]) -> Any:
        """One row to ``customer.upserted`` or a one-line ``order.placed`` (group these
        with :class:`OrderGrouper`), or a :class:`RowError`."""
        result = self.read_row(row)
        return result.event() if isinstance(result, OrderRow) else result

    def read_row(self, row: Mapping[str | None, Any]) -> Any:
        """Like :meth:`map_row`, an order row as an :class:`OrderRow` (its order and
        lines apart: :class:`OrderGrouper` joins them without a one-line event)."""
        cells = Cells(self.columns, _cells(row))
        try:
            if self.columns.kind is RowKind.CUSTOMERS:
                return customer_row(cells, self.context)
            head = self._order_head(cells)
            if isinstance(head, RowError):
                return head
            return order_row(cells, self.context, head)
        except NormalizationError as exc:
            return RowError(exc.path, exc.problem)
        except ValidationError as exc:  # a cleaned value the canonical model still refuses
            return RowError(None, format_validation_error(exc))

    def _order_head(self, cells: Cells) -> OrderHead | RowError:
        """The row's order cells, read once per run of rows that repeat them (every
        row of an order does): the same cells give the same head, or the same error."""
        key = tuple(cells.row.get(column) for column in self._head_columns)
        if key != self._head_key or self._head is None:
            try:
                self._head = order_head(cells, self.context)
            except NormalizationError as exc:
                self._head = RowError(exc.path, exc.problem)
            self._head_key = key
        return self._head

    def facts(
        self, event: CustomerUpserted | OrderPlaced
    ) -> tuple[CustomerUpserted] | tuple[OrderPlaced, OrderUpdated]:
        """The events that can tell what a customer row or a grouped order says, most
        specific first: an order's placement, then the order's state as of this file."""
        return tellings(event, self.context.received_at)


def _cells(row: Mapping[str | None, Any]) -> dict[str, str | None]:
    # csv.DictReader puts surplus cells under None and fills short rows with None.
    return {key: value if isinstance(value, str) else None for key, value in row.items() if key}


class OrderGrouper:
    """Joins consecutive one-line ``order.placed`` events of the same order.

    Linear in the lines: each row's lines are appended to one list and the order's
    event is built once, when the next order starts (or at :meth:`flush`). Its id
    names the order, not its lines, so nothing is copied or hashed per row. Past
    ``limit`` lines the order is only counted (memory stays bounded) and comes out as
    an :class:`OrderTooLarge`.
    """

    def __init__(self, limit: int = MAX_ORDER_LINES) -> None:
        self._limit = limit
        self._first: OrderPlaced | None = None
        self._line = 0
        self._lines: list[OrderLine] = []
        self._count = 0

    def add(
        self, event: OrderPlaced | OrderRow, line: int = 0
    ) -> OrderPlaced | OrderTooLarge | None:
        """Take the next row's event, or :class:`OrderRow` (``line``: where the row
        starts); returns the previous order once it is complete."""
        order, lines = (
            (event.order, event.lines) if isinstance(event, OrderRow) else (event, event.data.lines)
        )
        current = self._first
        if current is not None and current.data.order_id == order.data.order_id:
            self._join(lines)
            return None
        done = self.flush()
        self._first, self._line = order, line
        self._join(lines)
        return done

    def flush(self) -> OrderPlaced | OrderTooLarge | None:
        """The order still open (at the end of the file)."""
        first, lines, count = self._first, self._lines, self._count
        self._first, self._lines, self._count = None, [], 0
        if first is None:
            return None
        if count > self._limit:
            return OrderTooLarge(first.data.order_id, self._line, count, self._limit)
        data = first.data.model_copy(update={"lines": lines})
        return first.model_copy(update={"data": data})

    def _join(self, lines: list[OrderLine]) -> None:
        self._count += len(lines)
        if self._count <= self._limit:
            self._lines.extend(lines)
        else:
            self._lines.clear()  # refused anyway: keep the count, not the lines


def row_fingerprint(row: Mapping[str | None, Any]) -> str:
    """Identifies a row's content (cleaned, so full-width and half-width copies of the
    same row match) for dropping exact duplicates within one import. Every row of a
    file has the file's columns in the same order; the cells are joined by a
    character cleaning never leaves in a cell (white space), so no two different
    rows join alike. Surplus cells (past the header) are not part of it."""
    cells = "\x1f".join(
        (clean_text(value) or "") if isinstance(value, str) else ""
        for key, value in row.items()
        if key
    )
    return hashlib.blake2b(cells.encode(), digest_size=16).hexdigest()
