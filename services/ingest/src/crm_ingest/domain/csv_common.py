"""What the customer and order row mappers share: the import context, cell access
and fact-derived event ids."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from crm_common.events import EnvelopeBase, Identity
from crm_ingest.domain import csv_values as cv
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.csv_columns import Columns
from crm_ingest.domain.facts import fact_id_of

E = TypeVar("E", bound=EnvelopeBase)


@dataclass(frozen=True, slots=True)
class RowContext:
    """What every row of one import shares. ``source`` names the platform the file
    came from and is the key of the customer id in ``identity.external_ids``."""

    tenant: TenantContext
    source: str
    received_at: datetime
    default_region: str


@dataclass(frozen=True, slots=True)
class Cells:
    """One row, read through the file's column mapping."""

    columns: Columns
    row: dict[str, str | None]

    def raw(self, field: str) -> str | None:
        """The cell of ``field``; None when the file has no such column. With a
        preset: the first non-empty of its headers, through that header's codes."""
        column = self.columns.fields.get(field)
        if column is None:
            return None
        if not self.columns.special:
            return self.row.get(column)
        return self._read(field)[1]

    def col(self, field: str) -> str:
        """The header of ``field`` as written (for error messages): with a preset, the
        one :meth:`raw` read."""
        if not self.columns.special:
            return self.columns.label(field)
        return self._read(field)[0]

    def _read(self, field: str) -> tuple[str, str | None]:
        headers = self.columns.headers(field)
        for header in headers:
            value = self.row.get(header)
            cleaned = cv.text(value)
            if cleaned is not None:
                codes = self.columns.codes.get(header)
                return header, (codes.get(cleaned, value) if codes else value)
        return (headers[0] if headers else field), None

    def text(self, field: str) -> str | None:
        """The cleaned cell (NFKC, trimmed)."""
        return cv.text(self.raw(field))


def contact_identity(cells: Cells, ctx: RowContext) -> Identity:
    """Customer id (under the source's name), email and phone of a row."""
    customer_id = cells.text("customer_id")
    return Identity(
        email=cv.email(cells.col("email"), cells.raw("email")),
        phone=cv.phone(cells.col("phone"), cells.raw("phone"), ctx.default_region),
        external_ids={ctx.source: customer_id} if customer_id else {},
    )


def build_event(
    cls: type[E],
    ctx: RowContext,
    *,
    occurred_at: datetime,
    stated_at: datetime | None,
    identity: Identity,
    data: BaseModel,
) -> E:
    """An event of ``cls`` as of this import, with the id of the fact it tells
    (:func:`~crm_ingest.domain.facts.fact_id`; ``stated_at``: the time the row states,
    None when it states none, never the upload's)."""
    tenant_id = ctx.tenant.tenant_id
    event_type = cls.model_fields["type"].default
    payload: dict[str, Any] = {
        "event_id": fact_id_of(
            event_type, tenant_id, ctx.source, identity, data, stated_at=stated_at, happening=None
        ),
        "tenant_id": tenant_id,
        "source": ctx.source,
        "occurred_at": occurred_at,
        "received_at": ctx.received_at,
        "identity": identity,
        "data": data,
    }
    return cls.model_validate(payload)
