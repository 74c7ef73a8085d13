"""crm_common."""
