"""REST routers of the profile service."""
