"""crm_segment service."""
