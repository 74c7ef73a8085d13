"""Pure pieces of the console: catalogs, formatting, search parsing, charts, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from babel.messages.extract import extract_from_dir

from crm_dashboard.clients import decode
from crm_dashboard.i18n import HERE, build_environment, default_language, load_translations
from crm_dashboard.web.auth import _safe_next
from crm_dashboard.web.lists import identifier_query
from crm_dashboard.web.operations import parse_since
from crm_dashboard.web.overview import movement_matrix


def _template_msgids() -> set[str]:
    options = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}
    found = extract_from_dir(
        HERE / "templates", method_map=[("**.html", "jinja2")], options_map={"**.html": options}
    )
    return {str(message) for _, _, message, _, _ in found}


def test_every_template_string_has_a_japanese_translation() -> None:
    ja = load_translations("ja")
    missing = sorted(m for m in _template_msgids() if ja.gettext(m) == m and m != "RFM")
    assert missing == []


def test_japanese_for_tokyo_tenants_english_elsewhere() -> None:
    assert [default_language(tz) for tz in ("Asia/Tokyo", "Europe/London", None)] == [
        "ja",
        "en",
        "en",
    ]


def test_numbers_and_rates_in_both_languages() -> None:
    ja, en = build_environment("ja"), build_environment("en")
    text = "{{ 1234567.5 | num }} {{ '0.3333' | pct }} {{ none | num }} {{ 'n/a' | num }}"
    assert en.from_string(text).render() == "1,234,568 33.3%  n/a"
    assert ja.from_string("{{ _('Customers') }}").render() == "顧客"
    assert en.from_string("{{ _('Customers') }}").render() == "Customers"


def test_search_box_text_becomes_the_right_lookup() -> None:
    assert identifier_query(" Hanako@Example.jp ") == {"email": "Hanako@Example.jp"}
    assert identifier_query("shopify:1234") == {"external_id": "shopify:1234"}
    assert identifier_query("090-1234-5678") == {"phone": "090-1234-5678"}


def test_rank_movement_counts_up_down_and_stayed() -> None:
    moves = [
        {"from_rank": "C", "to_rank": "A", "customers": 3},
        {"from_rank": "B", "to_rank": "B", "customers": 5},
        {"from_rank": "A", "to_rank": "D", "customers": 2},
        {"from_rank": None, "to_rank": "E", "customers": 4},
    ]
    m = movement_matrix(moves)
    assert (m["up"], m["stayed"], m["down"]) == (3, 5, 2)
    assert m["cells"][(None, "E")] == 4


def test_service_errors_keep_message_and_field_paths() -> None:
    body = {
        "error": {
            "code": "invalid_definition",
            "message": "bad",
            "details": [{"path": "all[0].op", "message": "unknown operator"}],
        }
    }
    got = decode("segment", httpx.Response(422, json=body))
    assert (got.ok, got.status, got.error) == (False, 422, "segment: bad")
    assert got.details == [{"path": "all[0].op", "message": "unknown operator"}]
    plain = decode("profile", httpx.Response(502, text="<html>bad gateway</html>"))
    assert (plain.error, plain.details) == ("profile: HTTP 502", [])
    assert decode("profile", httpx.Response(200, json={"a": 1})).data == {"a": 1}


def test_sign_in_only_redirects_to_local_paths() -> None:
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)", "", None):
        assert _safe_next(target) == "/"
    assert _safe_next("/segments?x=1") == "/segments?x=1"


def test_charts_escape_labels_and_scale_bars() -> None:
    env = build_environment("en")
    template = env.from_string(
        '{% from "_charts.html" import bar_chart %}{{ bar_chart(items, "k", "v", "t") }}'
    )
    svg = template.render(items=[{"k": "<script>", "v": 10}, {"k": "b", "v": 5}])
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert 'height="200.0"' in svg and 'height="100.0"' in svg  # 10 fills the plot, 5 half


def test_replay_since_is_read_as_utc_unless_an_offset_is_given() -> None:
    assert parse_since("2026-11-23T16:50:05") == datetime(2026, 11, 23, 16, 50, 5, tzinfo=UTC)
    assert parse_since("2026-11-23T16:50+09:00") == datetime(2026, 11, 23, 7, 50, tzinfo=UTC)
    assert parse_since("  ") is None
