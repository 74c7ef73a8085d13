"""What the console's routes share, built once in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from jinja2 import Environment

from crm_common.db import Database
from crm_dashboard.audit import AuditLog
from crm_dashboard.clients import Backends
from crm_dashboard.config import Settings
from crm_dashboard.ops import OpsSettings


@dataclass
class DashboardContext:
    settings: Settings
    db: Database
    backends: Backends
    envs: dict[str, Environment]
    ops: OpsSettings
    http: httpx.AsyncClient  # for the operations view (probes, metrics, DLQ)
    audit: AuditLog
