"""Grouping big CSV orders: every line joined once, the lines cap, commit pieces on order
boundaries with bounded memory, one event per fact."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm_ingest.domain import RowMapper, TenantContext
from crm_ingest.domain.csv_chunks import OrderRuns
from crm_ingest.domain.csvrows import OrderGrouper, OrderTooLarge
from crm_ingest.domain.facts import first_news
from crm_ingest.domain.limits import MAX_ORDER_LINES

NOW = datetime(2024, 6, 1, 3, 0, tzinfo=UTC)
HEADER = ["受注番号", "受注日時", "合計金額", "顧客ID", "商品コード", "商品名", "数量", "単価"]
MAPPER = RowMapper("orders", HEADER, TenantContext("t-jp"), received_at=NOW, source="makeshop")


def row(order_id: str, i: int) -> dict[str | None, str]:
    cells = [order_id, "2024/01/05 10:30", "0", "123", f"SKU-{i}", f"商品{i}", "1", "100"]
    return dict(zip(HEADER, cells, strict=True))


def one_line_events(order_id: str, n: int) -> list:
    template = MAPPER.map_row(row(order_id, 0))
    line = template.data.lines[0]
    # Copies of one mapped row: what is measured is grouping, not cell parsing.
    return [
        template.model_copy(update={"data": template.data.model_copy(update={"lines": [line]})})
        for _ in range(n)
    ]


def group(events: list) -> list:
    grouper, done = OrderGrouper(), []
    for line, event in enumerate(events, start=2):
        if (finished := grouper.add(event, line)) is not None:
            done.append(finished)
    if (finished := grouper.flush()) is not None:
        done.append(finished)
    return done


def test_consecutive_rows_make_one_order_with_every_line():
    events = one_line_events("A-1", 4_000) + one_line_events("A-2", 1)

    big, small = group(events)

    assert (big.data.order_id, len(big.data.lines)) == ("A-1", 4_000)
    assert (small.data.order_id, len(small.data.lines)) == ("A-2", 1)
    assert big.event_id == events[0].event_id  # the placement names the order only


def test_an_order_over_the_cap_is_refused_whole_and_the_next_one_kept():
    events = one_line_events("A-1", 1) + one_line_events("BIG", 7) + one_line_events("A-2", 1)
    grouper = OrderGrouper(limit=6)

    results = [grouper.add(e, line) for line, e in enumerate(events, start=2)]
    results.append(grouper.flush())

    first, refused, last = [r for r in results if r is not None]
    assert refused == OrderTooLarge("BIG", line=3, lines=7, limit=6)
    assert refused.reason == "order 'BIG' has 7 lines; at most 6 lines per order are accepted"
    assert (first.data.order_id, last.data.order_id) == ("A-1", "A-2")


def test_the_cap_is_max_order_lines():
    assert OrderTooLarge("A-9", 2, 5_001).reason == (
        "order 'A-9' has 5,001 lines; at most 5,000 lines per order are accepted"
    )
    (exactly,) = group(one_line_events("A-1", MAX_ORDER_LINES))
    (over,) = group(one_line_events("A-1", MAX_ORDER_LINES + 1))
    assert len(exactly.data.lines) == MAX_ORDER_LINES
    assert over == OrderTooLarge("A-1", 2, MAX_ORDER_LINES + 1)


def numbered(*order_ids: str, start: int = 2) -> list:
    return [(line, {"受注番号": oid}) for line, oid in enumerate(order_ids, start=start)]


def flat(pieces: list) -> list:
    return [p if isinstance(p, OrderTooLarge) else [line for line, _ in p] for p in pieces]


def test_pieces_end_on_order_boundaries_and_carry_the_open_order():
    runs = OrderRuns("受注番号", limit=10)

    first = runs.feed(numbered("A", "A", "B", "B"))
    second = runs.feed(numbered("B", "C", start=6))
    last = runs.close()

    assert flat(first) == [[2, 3]]
    assert flat(second) == [[4, 5, 6]]
    assert flat(last) == [[7]]


def test_an_order_over_the_limit_is_one_piece_and_its_rows_are_not_kept():
    runs = OrderRuns("受注番号", limit=3)

    pieces = runs.feed(numbered("A", "BIG", "BIG", "BIG", "BIG"))
    held = len(runs._run)
    pieces += runs.feed(numbered("BIG", "BIG", "C", start=7))
    pieces += runs.close()

    assert held == 0  # past the limit the rows are counted, not kept
    assert flat(pieces) == [[2], OrderTooLarge("BIG", 3, 6, 3), [9]]


def test_rows_without_an_order_id_stay_with_the_order_around_them():
    runs = OrderRuns("受注番号", limit=10)

    pieces = runs.feed(numbered("", "A", "", "A"))
    pieces += runs.feed(numbered("B", "", start=6))
    pieces += runs.close()

    assert flat(pieces) == [[2], [3, 4, 5], [6, 7]]


def test_customer_rows_are_complete_on_their_own():
    runs = OrderRuns(None)

    assert flat(runs.feed(numbered("A", "A"))) == [[2, 3]]
    assert runs.close() == []


def test_one_event_per_fact_placement_first_then_states():
    placed_a, placed_b = group(one_line_events("A-1", 2) + one_line_events("B-1", 1))
    facts_a, facts_b = MAPPER.facts(placed_a), MAPPER.facts(placed_b)
    ids = {e.event_id for e in (*facts_a, *facts_b)}

    first_upload = first_news([facts_a, facts_b], ids)
    repeated = first_news([facts_a, facts_b], set())
    changed = first_news([facts_a], {facts_a[1].event_id})

    assert [e.type for e in first_upload] == ["order.placed", "order.placed"]
    assert repeated == []
    assert [e.type for e in changed] == ["order.updated"]


def test_an_order_told_twice_in_one_file_is_placed_once():
    (first,) = group(one_line_events("A-1", 1))
    second = first.model_copy(
        update={"data": first.data.model_copy(update={"total": Decimal("100")})}
    )
    facts = [MAPPER.facts(first), MAPPER.facts(second)]
    ids = {e.event_id for group in facts for e in group}

    assert [e.type for e in first_news(facts, ids)] == ["order.placed", "order.updated"]


@pytest.mark.parametrize("n", [1, 2])
def test_an_order_only_row_adds_no_line(n):
    events = one_line_events("A-1", n)
    bare = events[0].model_copy(update={"data": events[0].data.model_copy(update={"lines": []})})

    (order,) = group([*events, bare])

    assert len(order.data.lines) == n
