"""Pure normalization: Shopify webhooks, generic cart API events and CSV import rows
to canonical events (:mod:`crm_common.events`). No I/O; the clock is a parameter."""

from crm_ingest.domain.context import TenantContext
from crm_ingest.domain.csv_columns import RowKind
from crm_ingest.domain.csvrows import OrderGrouper, RowError, RowMapper, row_fingerprint
from crm_ingest.domain.errors import (
    BatchTooLarge,
    FieldError,
    HeaderError,
    InvalidEvent,
    NormalizationError,
)
from crm_ingest.domain.generic import MAX_BATCH, parse_batch, parse_generic_event
from crm_ingest.domain.shopify import normalize_shopify, supported_topics
from crm_ingest.domain.shopify_envelope import RawWebhook

__all__ = [
    "MAX_BATCH",
    "BatchTooLarge",
    "FieldError",
    "HeaderError",
    "InvalidEvent",
    "NormalizationError",
    "OrderGrouper",
    "RawWebhook",
    "RowError",
    "RowKind",
    "RowMapper",
    "TenantContext",
    "normalize_shopify",
    "parse_batch",
    "parse_generic_event",
    "row_fingerprint",
    "supported_topics",
]
