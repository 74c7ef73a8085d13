"""Limits accepted at ingest's doors, chosen so every later stage can carry them.

A limit the door accepts is one every record downstream fits: the broker's
record size (``KAFKA_MAX_MESSAGE_BYTES``, 8 MiB by default, see
:mod:`crm_common.settings`), the database and the event loop. An input over a
limit is refused where it arrives, with the limit and the size in the reason.
"""

from __future__ import annotations

# Lines of one order, whatever the door (Shopify webhook, generic API, CSV import).
# Shopify's own checkout caps an order at a few hundred lines; B2B draft orders
# and CSV exports from Japanese carts reach low thousands. 5,000 lines is about
# 1.5 MB of canonical JSON: it fits one record with room for the envelope.
MAX_ORDER_LINES = 5_000
