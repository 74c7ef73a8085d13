"""Kafka plumbing: an idempotent keyed producer, a transactional consumer runner,
topic creation and the dead-letter format.

Errors: a handler raises :class:`TransientError` (retry, never dead-letter) or
:class:`PoisonError` (dead-letter now); :class:`DeadLetter` describes a record a
consumer gave up on; everything else surfaces as aiokafka's own exceptions.
"""

from crm_common.kafka._admin import ensure_topics
from crm_common.kafka._dlq import DeadLetter, dead_letter_from_bytes
from crm_common.kafka._errors import PoisonError, TransientError
from crm_common.kafka._producer import Producer, RecordTooLarge
from crm_common.kafka._runner import BatchHandler, ConsumerRunner, Ignored, Message

__all__ = [
    "BatchHandler",
    "ConsumerRunner",
    "DeadLetter",
    "Ignored",
    "Message",
    "PoisonError",
    "Producer",
    "RecordTooLarge",
    "TransientError",
    "dead_letter_from_bytes",
    "ensure_topics",
]
