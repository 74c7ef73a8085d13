"""Domain exceptions of messaging.

MessagingError
 ├── InvalidIdentifier        an id part that would make derived ids ambiguous
 ├── NaiveDatetimeError       a timestamp without a timezone reached the domain
 ├── UnknownTimezone          a tenant or journey names no IANA zone
 ├── TemplateRenderError      a template failed at send time for a reason other
 │    │                       than a missing variable (sandbox violation, bad filter use)
 │    └── TemplateOverBudget  a part took too long, wrote too much or needed too much memory
 ├── TrackingTokenError       a tracking token must not be honoured
 │    ├── TokenInvalid        malformed, wrong kind or signature mismatch (tampered)
 │    ├── TokenExpired        signature fine, expiry passed
 │    └── LinkNotAllowed      click token does not name a link of its message
 └── JourneyStateError        a run state that does not fit its journey definition
"""

from __future__ import annotations

from dataclasses import dataclass


class MessagingError(Exception):
    """Base of every messaging domain error."""


class InvalidIdentifier(MessagingError, ValueError):
    pass


class NaiveDatetimeError(MessagingError, ValueError):
    pass


class UnknownTimezone(MessagingError, ValueError):
    pass


class TemplateRenderError(MessagingError):
    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"{part}: {message}")
        self.part = part
        self.detail = message


class TemplateOverBudget(TemplateRenderError):
    """``budget``: ``time``, ``output`` or ``memory``; the message says the limit."""

    def __init__(self, part: str, budget: str, message: str) -> None:
        super().__init__(part, message)
        self.budget = budget


class TrackingTokenError(MessagingError):
    pass


class TokenInvalid(TrackingTokenError):
    pass


class TokenExpired(TrackingTokenError):
    pass


class LinkNotAllowed(TrackingTokenError):
    pass


@dataclass(frozen=True)
class EncodingProblem:
    """One DM cell the chosen encoding cannot hold (row 0-based, header excluded); its
    ``characters`` are written as the replacement mark instead."""

    row: int
    column: str
    characters: str


class JourneyStateError(MessagingError):
    pass
