"""Tables of the profile schema (only this service reads or writes them)."""

from __future__ import annotations

from crm_common.db import make_metadata
from crm_common.plumbing import outbox_table, processed_events_table
from crm_profile.config import SCHEMA

metadata = make_metadata(SCHEMA)
outbox = outbox_table(metadata)
processed_events = processed_events_table(metadata)
