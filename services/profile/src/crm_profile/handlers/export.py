"""The bulk read: every live profile of a tenant as NDJSON, one line per profile.

A line is ``{"cursor", "profile_id", "version", "created_at", "updated_at",
"deleted", "redacted", "identifiers": [{"kind", "value"}], "traits"}`` in profile
id order; ``cursor`` resumes the export after that line (``?cursor=``), so an
interrupted transfer continues where it stopped. PostgreSQL renders each line's
JSON (the stored traits are not parsed here); pages of ``PAGE`` profiles are read
in short transactions of their own (keyset on the profile id), so a million-profile
export neither holds one snapshot open nor buffers the tenant in memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from crm_common.db import Database
from crm_profile.handlers.views import encode_cursor
from crm_profile.repository import reads

PAGE = 1000


async def export_lines(
    db: Database, tenant_id: str, after: str | None, limit: int | None
) -> AsyncIterator[bytes]:
    """NDJSON chunks (one per page) of the tenant's live profiles after ``after``."""
    left = limit
    while left is None or left > 0:
        size = PAGE if left is None else min(PAGE, left)
        async with db.transaction() as session:
            rows = await reads.export_page(session, tenant_id, after, size)
        if not rows:
            return
        yield "".join(_line(pid, body) for pid, body in rows).encode()
        after = rows[-1][0]
        left = None if left is None else left - len(rows)
        if len(rows) < size:
            return


def _line(profile_id: str, body: str) -> str:
    # ``body`` is a JSON object rendered by PostgreSQL: the cursor goes first.
    return f'{{"cursor":"{encode_cursor(profile_id)}",{body[1:]}\n'
