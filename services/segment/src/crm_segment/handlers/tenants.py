"""crm.tenants.v1 -> the local tenants table (authentication and time zone)."""

from __future__ import annotations

from crm_common.tenancy import tenant_config_handler
from crm_segment.tables import tenants

handle_tenants = tenant_config_handler(tenants)
