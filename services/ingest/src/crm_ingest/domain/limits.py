"""Limits accepted at ingest's doors, chosen so every later stage can carry them.

A limit the door accepts is one every record downstream fits: the broker's
record size (``KAFKA_MAX_MESSAGE_BYTES``, 8 MiB by default, see
:mod:`crm_common.settings`), the database and the event loop. An input over a
limit is refused where it arrives, with the limit and the size in the reason.
"""

from __future__ import annotations

# Lines of one order at the doors that count them (generic API, CSV import; a CSV
# order is held in memory until its last row). Shopify's own checkout caps an
# order at a few hundred lines; B2B draft orders and CSV exports from Japanese
# carts reach low thousands. 5,000 lines is about 1.5 MB of canonical JSON (5 MB
# with long titles): it fits one record with room for the envelope. A Shopify
# webhook is bounded by its body instead (``max_webhook_bytes``, 3 MiB), whose
# canonical event is never larger than one record.
MAX_ORDER_LINES = 5_000
