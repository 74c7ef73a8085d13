"""Cutting the rows of a CSV file into pieces that can each be committed alone.

An order's rows are committed together: its event is made from all of them, and a
crash resumes after the last committed row, so a piece never ends inside an order.
The rows of the order still open at the end of a read wait for the next read, at
most ``limit`` of them. An order with more rows than that (one line item per row)
is refused whole: it becomes one :class:`~.csvrows.OrderTooLarge` piece, and its
further rows are only counted. Memory stays bounded by one read plus ``limit``
rows, whatever the file holds (one huge order, or no order ids at all).

A row with an empty order id neither starts nor ends an order (the mapper rejects
it); it stays with the order around it, so a bad row does not split an order::

    runs = OrderRuns(order_column)
    for rows in reads:
        commit_each(runs.feed(rows))  # in file order: rows_read stays a prefix
    commit_each(runs.close())
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from crm_common.normalize import clean_text
from crm_ingest.domain.csvrows import OrderTooLarge
from crm_ingest.domain.limits import MAX_ORDER_LINES

Row = tuple[int, Mapping[str | None, Any]]
"""``(line number where the row starts, csv.DictReader row)``."""

Piece = list[Row] | OrderTooLarge


class OrderRuns:
    """Rows in, committable pieces out; ``order_column`` None (customer files): every
    row is complete on its own."""

    def __init__(self, order_column: str | None, limit: int = MAX_ORDER_LINES) -> None:
        self._column = order_column
        self._limit = limit
        self._done: list[Row] = []  # complete rows not yet handed out
        self._pieces: list[Piece] = []
        self._open: str | None = None  # the order whose rows may go on
        self._first = 0
        self._run: list[Row] = []
        self._count = 0

    def feed(self, rows: Iterable[Row]) -> list[Piece]:
        """The pieces complete after ``rows``, in file order; the open order is kept."""
        for row in rows:
            self._add(row)
        return self._take()

    def close(self) -> list[Piece]:
        """The remaining pieces, at the end of the file."""
        self._end_order()
        return self._take()

    def _add(self, row: Row) -> None:
        key = self._order_id(row)
        if key is not None and key != self._open:
            self._end_order()
            self._open, self._first = key, row[0]
        if self._open is None:
            self._done.append(row)
            return
        self._count += 1
        if self._count <= self._limit:
            self._run.append(row)
        elif self._run:  # just crossed the limit: what came before is a piece of its own
            self._cut()
            self._run = []

    def _end_order(self) -> None:
        if self._open is not None and self._count > self._limit:
            self._pieces.append(OrderTooLarge(self._open, self._first, self._count, self._limit))
        else:
            self._done.extend(self._run)
        self._open, self._run, self._count = None, [], 0

    def _cut(self) -> None:
        if self._done:
            self._pieces.append(self._done)
            self._done = []

    def _take(self) -> list[Piece]:
        self._cut()
        pieces, self._pieces = self._pieces, []
        return pieces

    def _order_id(self, row: Row) -> str | None:
        if self._column is None:
            return None
        value = row[1].get(self._column)
        return clean_text(value) if isinstance(value, str) else None
