"""How a batch handler tells the runner what kind of failure it hit.

::

    Exception
    ├── TransientError   retried with backoff until it passes; never dead-lettered
    │                    (a race between consumers, a lock that moved)
    └── PoisonError      dead-lettered at once, without retries (the input can never
                         succeed: too large to publish, a mapping that cannot apply)

Anything else raised by a handler is retried a bounded number of times one message
at a time, then dead-lettered (see :mod:`crm_common.kafka._runner`). Database
outages (connection errors, serialization failures, deadlocks) count as transient.
"""

from __future__ import annotations


class TransientError(RuntimeError):
    """A failure that goes away by itself: retry the batch, never dead-letter."""


class PoisonError(ValueError):
    """A message that can never be applied: dead-letter it now, with this reason."""
