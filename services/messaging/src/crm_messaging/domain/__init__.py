"""Pure messaging logic: ids, send-time guardrails, retries, rendering, tracking,
recommendations, postal DM files and journeys.

Nothing here does I/O or reads the clock: callers pass ``now``. Adapters and
persistence build on these functions.
"""
