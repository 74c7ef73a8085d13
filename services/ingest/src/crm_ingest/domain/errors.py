"""Why an input could not become a canonical event.

::

    ValueError
     ├── NormalizationError   a Shopify payload (or a CSV cell) that cannot be mapped;
     │                        the message is ``path: problem``
     ├── InvalidEvent         a generic cart API event; ``errors`` lists (path, message)
     ├── BatchTooLarge        more generic events in one request than allowed
     └── HeaderError          a CSV header that cannot be mapped to a row kind

Every message names the field (or column) and the problem, because the reader is an
operator looking at a dead-letter record or an import report, not a stack trace.
"""

from __future__ import annotations

FieldError = tuple[str, str]
"""``(field path, message)``, e.g. ``("data.total", "Input should be a valid decimal")``."""


class NormalizationError(ValueError):
    """A payload that cannot be normalized; ``reason`` is ``path: problem``."""

    def __init__(self, reason: str, *, path: str | None = None, problem: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path
        self.problem = problem or reason


def field_error(path: str, problem: str) -> NormalizationError:
    """A :class:`NormalizationError` about one field (``line_items[0].price: ...``)."""
    return NormalizationError(f"{path}: {problem}", path=path, problem=problem)


class InvalidEvent(ValueError):
    """A generic API event that failed validation, with every problem found."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors


class BatchTooLarge(ValueError):
    """More events in one batch than :data:`crm_ingest.domain.generic.MAX_BATCH`."""


class HeaderError(ValueError):
    """A CSV header that lacks a required column or names one field twice."""
