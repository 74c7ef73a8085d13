"""Domain exceptions of the profile service.

::

    ProfileDomainError
     ├── NoIdentifiersError      an event names nobody we can recognise
     ├── FactMismatchError       an event was applied to the fact of another entity
     └── UnsupportedEventError   a reducer was handed an event type it does not own
"""

from __future__ import annotations


class ProfileDomainError(Exception):
    """Base of every error raised by ``crm_profile.domain``."""


class NoIdentifiersError(ProfileDomainError):
    """The event carries no valid identifier, so it cannot be attached to a profile."""


class FactMismatchError(ProfileDomainError):
    """An event about one entity (order, contract) was applied to another's fact."""

    def __init__(self, kind: str, expected: str, got: str) -> None:
        super().__init__(f"{kind} {got!r} applied to the fact of {kind} {expected!r}")
        self.kind = kind
        self.expected = expected
        self.got = got


class UnsupportedEventError(ProfileDomainError):
    """A reducer received an event type outside its family."""

    def __init__(self, reducer: str, event_type: str) -> None:
        super().__init__(f"{reducer} does not handle {event_type!r} events")
        self.reducer = reducer
        self.event_type = event_type
