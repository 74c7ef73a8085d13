"""What can go wrong with a segment command (the API maps these to status codes)."""

from __future__ import annotations

from typing import Any


class SegmentNotFoundError(LookupError):
    def __init__(self, segment_id: str) -> None:
        super().__init__(f"no segment {segment_id!r}")
        self.segment_id = segment_id


class SegmentConflictError(RuntimeError):
    """The command cannot apply to the segment in its current state (409)."""

    def __init__(
        self, code: str, message: str, details: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = details or []


class InvalidSegmentError(ValueError):
    """A field other than the definition is wrong (422), e.g. snapshot_at."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
