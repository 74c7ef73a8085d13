"""One worker step of one campaign, inside the worker's transaction.

Starting freezes the audience (the segment's members now) into
``campaign_recipients``; each later step enqueues the next throttle-sized slice
through the sending door (``Enqueuer``: the same guardrails as every other send,
the slice written in a few statements) and marks
those recipients done in the same commit. A crash rolls the whole step back;
the (campaign, profile) primary key and the deterministic message id make a
replayed step enqueue nobody twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession

from crm_common.events.customers import Channel
from crm_messaging import metrics_campaigns as metrics
from crm_messaging.handlers.campaigns_rules import allowance
from crm_messaging.handlers.errors import HandlerError
from crm_messaging.repository import campaigns as repo
from crm_messaging.sending.enqueue import Enqueuer, MessageRequest


@dataclass(frozen=True)
class Pace:
    max_batch: int
    tick: timedelta


def _intent(campaign: RowMapping, profile_id: str) -> MessageRequest:
    return MessageRequest(
        source_kind="campaign",
        source_id=campaign["campaign_id"],
        profile_id=profile_id,
        channel=Channel(campaign["channel"]),
        purpose="marketing",
        template_id=campaign["template_id"],
        template=campaign["inline_parts"],
        context=campaign["context"] or {},
    )


async def start(session: AsyncSession, campaign: RowMapping, now: datetime) -> RowMapping:
    audience = await repo.freeze_audience(session, campaign)
    return await repo.update_campaign(
        session,
        campaign["campaign_id"],
        status="sending",
        audience=audience,
        audience_at=now,
        started_at=now,
        next_batch_at=now,
    )


async def _enqueue(
    session: AsyncSession, campaign: RowMapping, profiles: list[str], now: datetime
) -> dict[str, str]:
    enqueuer = Enqueuer(session, now)
    done = {}
    for profile_id in profiles:
        done[profile_id] = await enqueuer.add(campaign["tenant_id"], _intent(campaign, profile_id))
    await enqueuer.flush()
    return done


async def advance(session: AsyncSession, campaign: RowMapping, now: datetime, pace: Pace) -> None:
    """Start a due campaign, or enqueue its next slice; complete it when nobody is left."""
    if campaign["status"] == "scheduled":
        campaign = await start(session, campaign, now)
    cid = campaign["campaign_id"]
    allowed = allowance(
        now, campaign["next_batch_at"], campaign["throttle_per_minute"], pace.max_batch, pace.tick
    )
    if allowed.count == 0:
        await repo.update_campaign(session, cid, next_batch_at=allowed.next_at)
        return
    profiles = await repo.pending(session, cid, allowed.count)
    try:
        done = await _enqueue(session, campaign, profiles, now)
    except HandlerError as exc:  # e.g. its template was deleted: stop, say why, keep the rest
        await repo.update_campaign(session, cid, status="paused", error=exc.message)
        return
    moved = await repo.mark_enqueued(session, cid, done, now)
    metrics.enqueued(campaign["channel"], moved)
    if allowed.throttled and len(profiles) == allowed.count:
        metrics.THROTTLED.inc()
    values: dict[str, object] = {
        "enqueued": campaign["enqueued"] + moved,
        "next_batch_at": allowed.next_at,
    }
    if len(profiles) < allowed.count and await repo.count_pending(session, cid) == 0:
        values.update(status="completed", finished_at=now)
        metrics.COMPLETED.inc()
    await repo.update_campaign(session, cid, **values)
