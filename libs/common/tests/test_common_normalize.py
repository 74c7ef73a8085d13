"""The fast paths of cleansing and ids give exactly what the plain versions gave:
ids are stored (one fact, one event) and identifiers are matched, so not one
character may change."""

from __future__ import annotations

import re
import unicodedata
import uuid

import phonenumbers
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_common.events import stable_event_id
from crm_common.events._base import _EVENT_NAMESPACE
from crm_common.normalize import clean_text, normalize_phone

_SPACES = re.compile(r"\s+")


def _clean_text_before(value: str | None) -> str | None:
    if value is None:
        return None
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip() or None


def _phone_before(value: str | None, region: str = "JP") -> str | None:
    text = _clean_text_before(value)
    if text is None:
        return None
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_stable_event_id_is_uuid5_of_the_joined_parts(parts: list[str]) -> None:
    parts = [p.encode("utf-8", "replace").decode() for p in parts]  # no lone surrogates
    expected = str(uuid.uuid5(_EVENT_NAMESPACE, "\x1f".join(parts)))

    assert stable_event_id(*parts) == expected


def test_stable_event_id_known_value() -> None:
    # Published ids of real facts: this value may never change.
    assert stable_event_id("t1", "makeshop", "order.placed", "once", "1001") == str(
        uuid.uuid5(_EVENT_NAMESPACE, "t1\x1fmakeshop\x1forder.placed\x1fonce\x1f1001")
    )


@given(st.one_of(st.none(), st.text(), st.text(alphabet=" \t\n\u3000\u00a0\x1c\x85ａＡ１ｶﾞ")))
def test_clean_text_is_nfkc_with_white_space_collapsed(value: str | None) -> None:
    assert clean_text(value) == _clean_text_before(value)


_MOBILE = st.from_regex(r"\A0[789]0(-[0-9]{4}-[0-9]{4}|[0-9]{8})\Z").map(lambda s: s.strip())
_LOOKALIKE = st.from_regex(r"\A0[789]0(-\d{4}-\d{4}|\d{8})\Z").map(lambda s: s.strip())


@settings(max_examples=2000)
@given(st.one_of(_MOBILE, _LOOKALIKE), st.booleans())
def test_japanese_mobile_fast_path_agrees_with_libphonenumber(number: str, wide: bool) -> None:
    if wide:  # as some exports write them: full-width digits and dashes
        number = number.translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))

    assert normalize_phone(number) == _phone_before(number)
    assert normalize_phone(number, "US") == _phone_before(number, "US")


@given(st.text(alphabet="0123456789-+() ０９ー", max_size=16), st.sampled_from(["JP", "US"]))
def test_other_phones_are_parsed_as_before(value: str, region: str) -> None:
    assert normalize_phone(value, region) == _phone_before(value, region)


def test_phone_examples() -> None:
    assert normalize_phone("090-1234-5678") == "+819012345678"
    assert normalize_phone("０８０１２３４５６７８") == "+818012345678"
    assert normalize_phone("03-1234-5678") == "+81312345678"
    assert normalize_phone("090-1234-567") == _phone_before("090-1234-567")
    assert normalize_phone("nonsense") is None
