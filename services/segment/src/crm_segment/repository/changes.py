"""Membership changes written set-wise: the rows and their outbox events in one statement.

Every writer (per-change evaluation, the sweep, fills) hands PostgreSQL the changes
it wants; one statement closes and opens the membership rows and, for each row it
really changed (``RETURNING``), inserts the ``segment.exited`` / ``segment.entered``
outbox row, its payload built in SQL from a prototype the Python model encoded
(so the JSON is the model's, and decodes to the model with the same fields). A
row another writer changed first (an open row already there, none left to close)
is told by nobody a second time.

Event ids are :func:`crm_segment.handlers.publish.membership_event_id`, computed
by :data:`EVENT_ID_SQL` in SQL: stable per membership row (kind, tenant, segment,
profile, entered_at), so a republished row is dropped downstream by id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# (kind, tenant_id, segment_id, profile_id, entered_at) -> the event id (publish.py).
EVENT_ID_SQL = """encode(
  set_byte(set_byte(substring(h FROM 1 FOR 16), 6, (get_byte(h, 6) & 15) | 128),
           8, (get_byte(h, 8) & 63) | 128), 'hex')::uuid::text"""
_DIGEST = """sha256(convert_to(concat_ws(chr(31), {kind}, CAST(:tenant AS text), {segment},
  {profile}, (extract(epoch FROM {entered_at}) * 1000000)::bigint::text), 'UTF8'))"""

# The outbox rows of the told rows, in the order the changes were given (the narrow
# rows are sorted, not the payloads): payloads are the model's own JSON with the row's
# parts written in (format(): %1$s event id, %2$s profile, %3$s segment, %4$s reason,
# each a JSON string from to_json).
_OUTBOX = """
INSERT INTO segment.outbox (topic, key, event_id, payload)
SELECT :topic, CAST(:tenant AS text) || ':' || t.profile_id, d.event_id,
       convert_to(format(CASE t.kind WHEN 'segment.entered' THEN CAST(:entered_proto AS text)
                                     ELSE CAST(:exited_proto AS text) END,
                         to_json(d.event_id)::text, to_json(t.profile_id)::text,
                         to_json(t.segment_id)::text, to_json(t.reason)::text), 'UTF8')
FROM (SELECT * FROM told ORDER BY n) AS t
CROSS JOIN LATERAL (SELECT {event_id} AS event_id FROM (SELECT {digest} AS h) AS x) AS d
""".format(
    event_id=EVENT_ID_SQL,
    digest=_DIGEST.format(
        kind="t.kind", segment="t.segment_id", profile="t.profile_id", entered_at="t.entered_at"
    ),
)


# The rest of a statement whose CTE ``wanted`` (segment_id, profile_id, reason, enter, n)
# lists the changes: rows closed and opened, then an outbox row per row changed.
WRITES = f"""
closed AS (
  UPDATE segment.memberships AS m SET exited_at = :now
  FROM wanted AS w
  WHERE NOT w.enter AND m.tenant_id = :tenant AND m.segment_id = w.segment_id
    AND m.profile_id = w.profile_id AND m.exited_at IS NULL
  RETURNING m.segment_id, m.profile_id, m.entered_at
),
opened AS (
  INSERT INTO segment.memberships (tenant_id, segment_id, profile_id, entered_at)
  SELECT :tenant, segment_id, profile_id, :now FROM wanted WHERE enter ORDER BY n
  ON CONFLICT (tenant_id, segment_id, profile_id) WHERE exited_at IS NULL DO NOTHING
  RETURNING segment_id, profile_id, entered_at
),
told AS (
  SELECT 'segment.exited' AS kind, w.n, c.segment_id, c.profile_id, c.entered_at, w.reason
  FROM closed AS c JOIN wanted AS w USING (segment_id, profile_id)
  UNION ALL
  SELECT 'segment.entered', w.n, o.segment_id, o.profile_id, o.entered_at, w.reason
  FROM opened AS o JOIN wanted AS w USING (segment_id, profile_id)
),
published AS ({_OUTBOX})
SELECT (SELECT count(*) FROM opened) AS entered, (SELECT count(*) FROM closed) AS exited
"""

_APPLY = (
    """
WITH wanted AS (
  SELECT * FROM unnest(CAST(:segment_ids AS text[]), CAST(:profile_ids AS text[]),
                       CAST(:reasons AS text[]), CAST(:enter AS boolean[]))
    WITH ORDINALITY AS c(segment_id, profile_id, reason, enter, n)
),"""
    + WRITES
)


@dataclass(frozen=True, slots=True)
class Change:
    segment_id: str
    profile_id: str
    enter: bool  # False: leave
    reason: str


@dataclass(frozen=True, slots=True)
class Applied:
    entered: int = 0
    exited: int = 0

    def __add__(self, other: Applied) -> Applied:
        return Applied(self.entered + other.entered, self.exited + other.exited)


async def apply(
    session: AsyncSession, told: Mapping[str, Any], changes: Sequence[Change]
) -> Applied:
    """Open or close the membership rows of ``changes`` (in this order) and enqueue an
    event for each row really changed; returns how many entered and exited.

    ``told`` are the tenant, the moment and the payload prototypes
    (:func:`crm_segment.handlers.publish.told`)."""
    if not changes:
        return Applied()
    params = {
        **told,
        "segment_ids": [c.segment_id for c in changes],
        "profile_ids": [c.profile_id for c in changes],
        "reasons": [c.reason for c in changes],
        "enter": [c.enter for c in changes],
    }
    row = (await session.execute(text(_APPLY), params)).one()
    return Applied(int(row.entered), int(row.exited))
