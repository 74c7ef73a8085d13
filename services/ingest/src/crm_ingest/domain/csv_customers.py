"""A customers CSV row to ``customer.upserted``.

The event is the customer's record as the file states it: its id is a digest of
the record and of its own ``updated_at`` / ``created_at`` (:mod:`.facts`), so every
upload of the same record gives the same id and a changed record a new one (the
profile keeps the latest by ``updated_at``).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from crm_common.events import CustomerData, CustomerUpserted
from crm_common.events.customers import Address, Channel, Consent, ConsentState
from crm_ingest.domain import csv_values as cv
from crm_ingest.domain.csv_common import Cells, RowContext, build_event, contact_identity
from crm_ingest.domain.errors import NormalizationError

_ADDRESS_FIELDS = ("postal_code", "prefecture", "city", "address1", "address2")
_TAG_SEPARATORS = re.compile(r"[,、]")


def customer_row(cells: Cells, ctx: RowContext) -> CustomerUpserted:
    """One customer. Needs an id, email or phone; any malformed cell rejects the row."""
    identity = contact_identity(cells, ctx)
    if identity.is_empty():
        wanted = " / ".join(cells.col(f) for f in ("customer_id", "email", "phone"))
        raise NormalizationError(f"no customer identity: {wanted} is empty")
    zone = ctx.tenant.zone
    created_at = cv.timestamp(cells.col("created_at"), cells.raw("created_at"), zone)
    updated_at = cv.timestamp(cells.col("updated_at"), cells.raw("updated_at"), zone)
    data = CustomerData(
        customer_id=cells.text("customer_id"),
        email=identity.email,
        phone=identity.phone,
        last_name=cells.text("last_name"),
        first_name=cells.text("first_name"),
        last_name_kana=cells.text("last_name_kana"),
        first_name_kana=cells.text("first_name_kana"),
        birthday=cv.birthday(cells.col("birthday"), cells.raw("birthday")),
        gender=cv.gender(cells.raw("gender")),
        address=_address(cells),
        tags=_tags(cells),
        consents=_consents(cells, ctx, updated_at),
        properties=_extra_columns(cells),
        created_at=created_at,
        updated_at=updated_at,
    )
    stated_at = updated_at or created_at
    return build_event(
        CustomerUpserted,
        ctx,
        occurred_at=stated_at or ctx.received_at,
        stated_at=stated_at,
        identity=identity,
        data=data,
    )


def _address(cells: Cells) -> Address | None:
    if not any(cells.text(field) for field in _ADDRESS_FIELDS):
        return None
    return Address(
        postal_code=cv.postal_code(cells.col("postal_code"), cells.raw("postal_code")),
        prefecture=cv.prefecture(cells.col("prefecture"), cells.raw("prefecture")),
        city=cells.text("city"),
        address1=cells.text("address1"),
        address2=cells.text("address2"),
        country_code="JP",  # the columns (郵便番号, 都道府県) only describe Japanese addresses
    )


def _tags(cells: Cells) -> list[str] | None:
    if "tags" not in cells.columns.fields:
        return None  # no column: "not told", unlike an empty cell ("no tags")
    parts = _TAG_SEPARATORS.split(cells.text("tags") or "")
    return [tag for tag in (cv.text(part) for part in parts) if tag]


def _consents(cells: Cells, ctx: RowContext, updated_at: datetime | None) -> list[Consent]:
    """メルマガ yes/no. "No" is recorded as unsubscribed: the shop's current record says
    not to mail, which must win over an older subscription."""
    wanted = cv.flag(cells.col("email_consent"), cells.raw("email_consent"))
    if wanted is None:
        return []
    state = ConsentState.SUBSCRIBED if wanted else ConsentState.UNSUBSCRIBED
    return [Consent(channel=Channel.EMAIL, state=state, source=ctx.source, collected_at=updated_at)]


def _extra_columns(cells: Cells) -> dict[str, Any]:
    found = {column: cv.text(cells.row.get(column)) for column in cells.columns.unknown}
    return {column: value for column, value in found.items() if value is not None}
