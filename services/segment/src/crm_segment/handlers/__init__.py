"""Use cases of the segment service, each inside the caller's transaction."""
