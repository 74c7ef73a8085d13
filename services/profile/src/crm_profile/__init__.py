"""crm_profile service."""
