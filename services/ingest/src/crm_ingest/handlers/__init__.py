"""Use cases of the ingest service: small functions working inside the boundary's
transaction (or owning one where the use case is the boundary, e.g. an import chunk)."""
