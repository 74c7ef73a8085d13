"""All SQL of the segment service. Functions take the caller's session and
flush, never commit: the boundary (a request, a batch, a sweep) owns the
transaction."""
