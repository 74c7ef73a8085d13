"""Kafka plumbing: an idempotent keyed producer, a transactional consumer runner,
topic creation and the dead-letter format.

Errors: :class:`crm_common.kafka.DeadLetter` describes a record that a consumer
gave up on; everything else surfaces as aiokafka's own exceptions.
"""

from crm_common.kafka._admin import ensure_topics
from crm_common.kafka._dlq import DeadLetter, dead_letter_from_bytes
from crm_common.kafka._producer import Producer
from crm_common.kafka._runner import BatchHandler, ConsumerRunner, Message

__all__ = [
    "BatchHandler",
    "ConsumerRunner",
    "DeadLetter",
    "Message",
    "Producer",
    "dead_letter_from_bytes",
    "ensure_topics",
]
