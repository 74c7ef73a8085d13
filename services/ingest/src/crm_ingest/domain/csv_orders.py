"""An orders CSV row to a one-line ``order.placed`` (rows are grouped afterwards).

Ids (:mod:`.facts`): a placement happens once per order, so ``order.placed`` is
keyed by the order id alone: every upload of the order, however its state changed
since, names the same placement, and so does the generic API for the same platform.
Each state of the order is a fact of its own (:func:`~.facts.order_state`, keyed by
a digest of the grouped order): a later export with another status, total or
``updated_at`` is a new ``order.updated``, the same export again the same one.

Amounts: an empty cell is missing, ``0`` / ``0.00`` is an amount (a free sample or
a 100 % coupon costs nothing, it is still an order).

A preset (:mod:`.csv_presets`) may add: the order's number apart from its id, an order
time apart from its date (MakeShop's 日付 + 注文時間), a status column read through
the preset's states (a cancelled or returned order is stamped ``cancelled_at`` with
the order's ``updated_at``, else its order time: exports do not say when it was
cancelled; a checkout still in progress is rejected), and a line-type column (rows of
shipping, fees or discounts keep the order's cells and add no line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NoReturn

from pydantic import ValidationError

from crm_common.events import (
    Money,
    OrderData,
    OrderKind,
    OrderLine,
    OrderPlaced,
    format_validation_error,
)
from crm_ingest.domain import csv_values as cv
from crm_ingest.domain.csv_common import Cells, RowContext, build_event, contact_identity
from crm_ingest.domain.csv_presets import OrderState
from crm_ingest.domain.errors import NormalizationError, field_error

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LINE_FIELDS = ("product_id", "sku", "title", "quantity", "unit_price")
_HHMMSS = re.compile(r"^\d{1,6}$")
_NO_STATE = OrderState()
_KINDS = {
    "通常": OrderKind.REGULAR,
    "通常購入": OrderKind.REGULAR,
    "regular": OrderKind.REGULAR,
    "定期": OrderKind.SUBSCRIPTION,
    "定期購入": OrderKind.SUBSCRIPTION,
    "subscription": OrderKind.SUBSCRIPTION,
    "頒布会": OrderKind.HANPUKAI,
    "hanpukai": OrderKind.HANPUKAI,
    "予約": OrderKind.PRE_ORDER,
    "予約購入": OrderKind.PRE_ORDER,
    "pre_order": OrderKind.PRE_ORDER,
    "preorder": OrderKind.PRE_ORDER,
}


ORDER_FIELDS = (
    "customer_id",
    "email",
    "phone",
    "order_id",
    "order_number",
    "placed_at",
    "placed_time",
    "updated_at",
    "currency",
    "subtotal",
    "total_discounts",
    "total_tax",
    "shipping",
    "total",
    "financial_status",
    "fulfillment_status",
    "kind",
    "subscription",
    "status",
)
"""The cells :func:`order_head` reads: every row of an order repeats them, so a row
whose cells equal the previous row's has the same head (:class:`~.csvrows.RowMapper`
maps them once per order)."""


@dataclass(frozen=True, slots=True)
class OrderHead:
    """What an order's cells (all but its line) say: the order without lines, or why
    the canonical model refuses them (reported after any problem of the line's own
    cells, as when the order and its line were validated together)."""

    currency: str
    placed: OrderPlaced | None
    refused: str | None = None


@dataclass(frozen=True, slots=True)
class OrderRow:
    """One row of an orders file: its order (without lines) and its line items."""

    order: OrderPlaced
    lines: list[OrderLine]

    def event(self) -> OrderPlaced:
        """The row as a one-line ``order.placed``."""
        if not self.lines:
            return self.order
        data = self.order.data.model_copy(update={"lines": self.lines})
        return self.order.model_copy(update={"data": data})


def order_row(cells: Cells, ctx: RowContext, head: OrderHead | None = None) -> OrderRow:
    """One row: the order's cells plus at most one line item. ``head``: the row's
    :func:`order_head`, when already known."""
    head = head if head is not None else order_head(cells, ctx)
    lines = _lines(cells, head.currency)
    if head.placed is None:
        raise NormalizationError(head.refused or "refused")
    return OrderRow(head.placed, lines)


def order_head(cells: Cells, ctx: RowContext) -> OrderHead:
    """The order's cells; raises NormalizationError for a cell that cannot be read."""
    identity = contact_identity(cells, ctx)
    if identity.is_empty():
        wanted = " / ".join(cells.col(f) for f in ("customer_id", "email", "phone"))
        raise NormalizationError(f"no customer identity: {wanted} is empty")
    order_id = _required(cells, "order_id")
    placed_at = _placed_at(cells, ctx)
    updated_at = cv.timestamp(cells.col("updated_at"), cells.raw("updated_at"), ctx.tenant.zone)
    state = _state(cells)
    currency = _currency(cells, ctx)
    values = {
        "order_id": order_id,
        "order_number": cells.text("order_number") or order_id,
        "kind": _kind(cells),
        "placed_at": placed_at,
        "updated_at": updated_at,
        "currency": currency,
        "subtotal": _amount(cells, "subtotal", currency),
        "total_discounts": _amount(cells, "total_discounts", currency),
        "total_tax": _amount(cells, "total_tax", currency),
        "shipping": _amount(cells, "shipping", currency),
        "total": _required_amount(cells, "total", currency),
        "financial_status": cells.text("financial_status") or state.financial_status,
        "fulfillment_status": cells.text("fulfillment_status") or state.fulfillment_status,
        "cancelled_at": (updated_at or placed_at) if state.cancel_reason else None,
        "cancel_reason": state.cancel_reason,
    }
    try:
        data = OrderData(**values)
        placed = build_event(
            OrderPlaced,
            ctx,
            occurred_at=data.placed_at,
            stated_at=data.updated_at,
            identity=identity,
            data=data,
        )
    except ValidationError as exc:  # a cleaned value the canonical model still refuses
        return OrderHead(currency, None, format_validation_error(exc))
    return OrderHead(currency, placed)


def _lines(cells: Cells, currency: str) -> list[OrderLine]:
    if not any(cells.text(field) for field in _LINE_FIELDS):
        return []  # an order-only row (exports without line items)
    if not _is_product_line(cells):
        return []  # a shipping, fee or discount row: its amounts are the order's
    quantity = cv.quantity(cells.col("quantity"), cells.raw("quantity"))
    unit_price = _amount(cells, "unit_price", currency)
    return [
        OrderLine(
            line_id=cells.text("line_id"),
            product_id=cells.text("product_id"),
            variant_id=cells.text("variant_id"),
            sku=cells.text("sku"),
            title=cells.text("title") or cells.text("sku") or _missing(cells, "title"),
            category=cells.text("category"),
            quantity=1 if quantity is None else quantity,  # exports omit 数量 for single items
            unit_price=Money(
                amount=unit_price if unit_price is not None else _missing(cells, "unit_price"),
                currency=currency,
            ),
        )
    ]


def _is_product_line(cells: Cells) -> bool:
    """A preset's line-type column says which rows are products (no column: all)."""
    preset = cells.columns.preset
    if preset is None or preset.product_lines is None or "line_type" not in cells.columns.fields:
        return True
    written = cells.text("line_type")
    return written is None or written in preset.product_lines


def _placed_at(cells: Cells, ctx: RowContext) -> datetime:
    """受注日時, or a date with its time of day in a column of its own (MakeShop's
    日付 ``2022/8/10`` + 注文時間 ``103309``)."""
    written = cells.raw("placed_at")
    time_of_day = cells.text("placed_time")
    if time_of_day is not None and cv.text(written) is not None:
        written = f"{cv.text(written)} {_clock(cells, time_of_day)}"
    placed_at = cv.timestamp(cells.col("placed_at"), written, ctx.tenant.zone)
    return placed_at if placed_at is not None else _missing(cells, "placed_at")


def _clock(cells: Cells, written: str) -> str:
    """``103309`` (hhmmss; a spreadsheet may have dropped the leading zero) or
    ``10:33[:09]`` as ``hh:mm:ss``; anything else is refused under its own column."""
    parts = written.split(":") if ":" in written else None
    if parts is None and _HHMMSS.match(written):
        digits = written.zfill(6)
        parts = [digits[:2], digits[2:4], digits[4:]]
    numbers = [int(p) for p in parts or () if p.isdigit() and len(p) <= 2]
    if parts is None or len(numbers) != len(parts) or len(parts) not in (2, 3):
        raise field_error(cells.col("placed_time"), f"not a time of day: {written!r}")
    hour, minute, second = (*numbers, 0)[:3]
    if hour > 23 or minute > 59 or second > 59:
        raise field_error(cells.col("placed_time"), f"not a time of day: {written!r}")
    return f"{hour:02d}:{minute:02d}:{second:02d}"


def _state(cells: Cells) -> OrderState:
    """The preset's reading of the status column; rejects a checkout in progress."""
    preset = cells.columns.preset
    written = cells.text("status") if preset is not None else None
    if preset is None or written is None:
        return _NO_STATE
    state = preset.states.get(written)
    if state is None:
        known = ", ".join(preset.states)
        raise field_error(cells.col("status"), f"unknown status {written!r} (known: {known})")
    if state.not_an_order:
        raise field_error(cells.col("status"), f"{written}: {state.not_an_order}")
    return state


def _kind(cells: Cells) -> OrderKind:
    """受注種別 (通常/定期/頒布会/予約) wins; else a yes/no 定期 column."""
    written = cells.text("kind")
    if written is not None:
        kind = _KINDS.get(written.lower().replace("-", "_"))
        if kind is None:
            raise field_error(cells.col("kind"), f"unknown order type: {written!r}")
        return kind
    recurring = cv.flag(cells.col("subscription"), cells.raw("subscription"))
    return OrderKind.SUBSCRIPTION if recurring else OrderKind.REGULAR


def _currency(cells: Cells, ctx: RowContext) -> str:
    written = cells.text("currency")
    if written is None:
        return ctx.tenant.currency
    if not _CURRENCY.match(written.upper()):
        raise field_error(cells.col("currency"), f"not an ISO 4217 code: {written!r}")
    return written.upper()


def _amount(cells: Cells, field: str, currency: str) -> Decimal | None:
    return cv.amount(cells.col(field), cells.raw(field), currency)


def _required_amount(cells: Cells, field: str, currency: str) -> Decimal:
    # Not ``amount or missing``: Decimal("0") is falsy, and 0 is an amount.
    amount = _amount(cells, field, currency)
    return amount if amount is not None else _missing(cells, field)


def _required(cells: Cells, field: str) -> str:
    return cells.text(field) or _missing(cells, field)


def _missing(cells: Cells, field: str) -> NoReturn:
    raise field_error(cells.col(field), "missing")
