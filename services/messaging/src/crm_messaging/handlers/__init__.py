"""Use cases: each runs inside a transaction its caller (API, consumer, dispatcher) owns."""
