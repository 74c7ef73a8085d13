"""Loyalty events: member ranks (会員ランク) and points, published by the profile service.

``rank.changed`` is published as the person's ``profile.activity`` on
``crm.profiles.v1`` (``source_type`` ``rank.changed``, ``data`` this model's data), in
order with the ``profile.changed`` that carries the new rank: segment event
conditions and messaging's event-triggered journeys read activity from there, so a
rank-up journey is an event trigger on ``rank.changed`` (a branch or the trigger's
filters on ``data.direction``).
"""

from __future__ import annotations

from typing import Literal

from crm_common.events._base import DecimalStr, EnvelopeBase, Frozen, UtcDatetime

__all__ = ["RankChanged", "RankChangedData"]


class RankChangedData(Frozen):
    profile_id: str
    previous_rank: str | None  # None: the person held no rank
    rank: str | None  # None: the person lost every rank
    direction: Literal["up", "down"]
    window_spend: DecimalStr  # net spend in the rank window it was judged on
    currency: str
    at: UtcDatetime


class RankChanged(EnvelopeBase):
    type: Literal["rank.changed"] = "rank.changed"
    data: RankChangedData

    def partition_key(self) -> str:
        return f"{self.tenant_id}:{self.data.profile_id}"
