"""All SQL of the ingest service. Functions take the caller's session and flush;
the boundary (request, consumed batch, import chunk) owns the transaction."""
