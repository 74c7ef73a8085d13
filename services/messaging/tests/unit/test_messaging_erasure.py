"""What an erasure leaves of a recipient snapshot (crm_messaging.domain.erasure)."""

from __future__ import annotations

from crm_messaging.domain.erasure import without_contact
from crm_messaging.domain.recipients import address_of, display_name, line_user_id


def test_contact_details_go_and_the_traits_that_decide_nothing_alone_stay() -> None:
    snapshot = {
        "first_name": "紗希",
        "last_name": "冴木",
        "first_name_kana": "サキ",
        "last_name_kana": "サエキ",
        "email": "saki@example.jp",
        "phone": "+819011112222",
        "birthday": "1990-04-01",
        "address_postal_code": "150-0041",
        "address_prefecture": "東京都",
        "address_city": "渋谷区神南",
        "address_address1": "1-19-11",
        "line_user_id": "U0123",
        "properties": {"line_user_id": "U0123"},
        "gender": "female",
        "tags": ["vip"],
        "orders_count": 3,
        "consent_email": "subscribed",
        "suppressions": [],
    }
    left = without_contact(snapshot)
    assert left == {
        "gender": "female",
        "tags": ["vip"],
        "orders_count": 3,
        "consent_email": "subscribed",
        "suppressions": [],
    }
    assert (display_name(left), address_of(left), line_user_id(left)) == (None, None, None)
    assert snapshot["email"] == "saki@example.jp"  # a new dict
