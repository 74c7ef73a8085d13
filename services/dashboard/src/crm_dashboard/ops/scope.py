"""Whose operations the view shows, and what each kind of viewer may see.

An installation operator (a console user with the ``operator`` flag) sees everything:
every tenant's dead letters and replay, consumer lag in records, events per second,
webhook rejections and provider errors. Anyone else sees their own tenant: its dead
letters (replay for its admins), the services' health and, per consumer group, only
whether the pipeline keeps up. Lag, rates, rejections and provider errors are counted
over every tenant's records on shared topics; their numbers would tell one shop how
much another sells and sends, and none of them can be split per tenant without
reading the records.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm_common.internal_auth import Role


@dataclass(frozen=True)
class OpsScope:
    """``tenant_id`` None: the whole installation (an operator); ``role``: the user's
    tenant role (replay needs admin); ``subject``: who, for the services' logs."""

    tenant_id: str | None
    role: Role = "viewer"
    subject: str = "dashboard"

    @property
    def installation(self) -> bool:
        return self.tenant_id is None


# The dashboard's own exporter of gauges: the whole installation, read only.
EXPORTER = OpsScope(None, "viewer", "dashboard:exporter")
