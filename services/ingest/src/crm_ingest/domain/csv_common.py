"""What the customer and order row mappers share: the import context, cell access
and fact-derived event ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from crm_common.events import EnvelopeBase, Identity, stable_event_id
from crm_ingest.domain import csv_values as cv
from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.csv_columns import Columns

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
        """The cell of ``field``; None when the file has no such column."""
        column = self.columns.fields.get(field)
        return self.row.get(column) if column is not None else None

    def col(self, field: str) -> str:
        """The header of ``field`` as written (for error messages)."""
        return self.columns.label(field)

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


def fact_id(tenant_id: str, source: str, event_type: str, key: str, *detail: str) -> str:
    """The id of one business fact a file tells (an order placed, a customer's record
    as of some content): made from the tenant, the platform, the type and the fact's
    own key, never from the upload (import id, file name, position in the file), so
    every upload that tells the same fact gives the same id."""
    return stable_event_id(tenant_id, source, "csv", event_type, key, *detail)


def content_digest(data: BaseModel) -> str:
    """Identifies what ``data`` says, field by field (the same content, the same digest)."""
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def event_type(cls: type[EnvelopeBase]) -> str:
    """The ``type`` literal of an event class (``order.placed``)."""
    value: str = cls.model_fields["type"].default
    return value


def build_event(
    cls: type[E],
    ctx: RowContext,
    *,
    event_id: str,
    occurred_at: datetime,
    identity: Identity,
    data: BaseModel,
) -> E:
    """An event of ``cls`` as of this import."""
    payload: dict[str, Any] = {
        "event_id": event_id,
        "tenant_id": ctx.tenant.tenant_id,
        "source": ctx.source,
        "occurred_at": occurred_at,
        "received_at": ctx.received_at,
        "identity": identity,
        "data": data,
    }
    return cls.model_validate(payload)
