"""crm_ingest service."""
