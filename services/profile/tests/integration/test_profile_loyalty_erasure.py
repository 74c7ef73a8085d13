"""Erasure drops the free-text reasons of the person's points entries (a merchant may
have written personal data there) and keeps the amounts, as it keeps orders."""

from __future__ import annotations

from typing import Any

import pytest
from profile_events import NOW, at, customer, ident, new_tenant
from profile_it import apply, live_profiles
from sqlalchemy import select

from crm_common.events import PrivacyRedactRequested
from crm_common.events.customers import PrivacyRequestData
from crm_profile.domain.points import PointsEntry
from crm_profile.repository import loyalty as loyalty_repo
from crm_profile.tables import points_entries

pytestmark = pytest.mark.infra


async def test_erasure_forgets_the_reasons_of_points_entries(profile_db: Any) -> None:
    tenant = new_tenant()
    who = ident(email="points.reason@example.com")
    await apply(profile_db, tenant, [customer(tenant, "c1", 0, who)])
    (row,) = await live_profiles(profile_db, tenant)
    entry = PointsEntry(key="g1", kind="grant", points=300, at=NOW, reason="山田花子様 お詫び")
    async with profile_db.transaction() as session:
        await loyalty_repo.add_entries(session, tenant, [(row.profile_id, entry)])
    redact = PrivacyRedactRequested(
        event_id=f"{tenant}:redact",
        tenant_id=tenant,
        source="shopify",
        occurred_at=at(1),
        received_at=at(1),
        identity=who,
        data=PrivacyRequestData(request_id="rq-1"),
    )
    await apply(profile_db, tenant, [redact])
    e = points_entries
    async with profile_db.transaction() as session:
        stored = await session.scalar(select(e.c.entry).where(e.c.tenant_id == tenant))
    assert "reason" not in stored
    assert PointsEntry.model_validate(stored) == entry.model_copy(update={"reason": None})
