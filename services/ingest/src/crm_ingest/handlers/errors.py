"""What a use case can refuse; the API layer maps these to status codes in one place
(:func:`crm_ingest.api.errors.install`)."""

from __future__ import annotations


class NotFound(LookupError):
    """The named tenant, secret, key or import does not exist (for this caller)."""


class Conflict(ValueError):
    """The request contradicts stored state (a shop domain owned by another tenant)."""


class Unauthorized(PermissionError):
    """A webhook whose signature does not verify, or whose shop is unknown.

    ``reason`` is the metric label (``bad_signature``, ``unknown_shop`` ...)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class BadInput(ValueError):
    """A request that is not what the endpoint reads (not JSON, a missing header)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
