"""crm_dashboard service."""
