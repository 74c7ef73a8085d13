"""crm_messaging service."""
