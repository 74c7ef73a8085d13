"""HTTP routers of the segment service."""
