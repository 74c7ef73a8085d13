"""誕生日特典: birthday points, granted by the profile service's sweep.

Messaging's date-trait sweep starts birthday *journeys* (the mail); the points are
the profile service's, so its refresher runs this sweep on each tick (every
``PROFILE_REFRESH_SECONDS``): for each tenant whose current rules give
``birthday_points``, every live, not deleted profile whose stored birthday is today
in the tenant's timezone gets a ``birthday`` entry keyed ``birthday:<profile>:<year>``
(so a second tick, a second replica or a restart grants nothing twice), expiring by
the rules like any grant. People born on 29 February get theirs on 28 February in
other years. The snapshot is recomputed and ``profile.changed`` published in the same
transaction, so a birthday journey that waits a little can quote the new balance.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.db import Database
from crm_profile.domain.loyalty_rules import Programme
from crm_profile.domain.points import PointsEntry
from crm_profile.handlers import loyalty
from crm_profile.handlers.batch import TenantBatch
from crm_profile.handlers.process import thresholds_of
from crm_profile.handlers.publish import finish
from crm_profile.repository import loyalty as loyalty_repo


def birthday_days(today: date) -> list[str]:
    """``MM-DD`` patterns whose people have their birthday ``today``."""
    days = [today.strftime("%m-%d")]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days.append("02-29")
    return days


async def grant_birthday_points(db: Database, now: datetime) -> int:
    """One transaction: every tenant's birthday points of today; returns how many."""
    granted = 0
    async with db.transaction() as session:
        for tenant_id in sorted(await loyalty_repo.tenants_with_programmes(session)):
            granted += await _tenant(session, tenant_id, now)
    return granted


async def _tenant(session: AsyncSession, tenant_id: str, now: datetime) -> int:
    programme = await loyalty_repo.programme_of(session, tenant_id)
    if programme is None or programme.current.birthday_points <= 0:
        return 0
    zone = await loyalty_repo.tenant_timezone(session, tenant_id)
    today = now.astimezone(ZoneInfo(zone)).date()
    born = []
    for pattern in birthday_days(today):
        born += await loyalty_repo.born_on(session, tenant_id, pattern)
    rows = [(pid, _entry(pid, today, programme, now)) for pid in sorted(set(born))]
    fresh = await loyalty_repo.add_entries(session, tenant_id, rows)
    if fresh:
        rules = await thresholds_of(session, tenant_id)
        batch = TenantBatch(session, tenant_id, now, rules, programme=programme)
        await batch.lock(fresh)
        for profile in batch.profiles.values():
            profile.touched = True
        await finish(batch)
        await loyalty.add_entries_timeline(batch, [r for r in rows if r[0] in fresh])
    return len(fresh)


def _entry(profile_id: str, today: date, programme: Programme, now: datetime) -> PointsEntry:
    return PointsEntry(
        key=f"birthday:{profile_id}:{today.year}",
        kind="birthday",
        points=programme.current.birthday_points,
        at=now,
        reason=f"誕生日特典 {today.year}",
    )
