"""Customer attributes: per-field last-writer-wins, cleansing, redaction."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from crm_common.events import Identity
from crm_common.events.customers import Address, CustomerData, CustomerUpserted
from crm_profile.domain.attributes import Attributes, apply_customer_event
from crm_profile.domain.redaction import redact
from crm_profile.domain.versions import Stamp

T0 = datetime(2024, 4, 1, tzinfo=UTC)


def upsert(
    event_id: str, updated: int | None = None, occurred: int = 0, **fields: Any
) -> CustomerUpserted:
    at = T0 + timedelta(minutes=occurred)
    return CustomerUpserted(
        event_id=event_id,
        tenant_id="t1",
        source="shopify",
        occurred_at=at,
        received_at=at,
        identity=Identity(),
        data=CustomerData(
            updated_at=T0 + timedelta(minutes=updated) if updated is not None else None, **fields
        ),
    )


def fold(events: list[CustomerUpserted], start: Attributes | None = None) -> Attributes:
    attrs = start or Attributes()
    for event in events:
        attrs = apply_customer_event(attrs, event)
    return attrs


def test_values_are_cleansed_on_the_way_in() -> None:
    attrs = fold(
        [
            upsert(
                "e1",
                email=" Hanako@Example.JP",
                phone="０８０-１１１１-２２２２",
                first_name=" 花子 ",
                last_name="山田",
                first_name_kana="ﾊﾅｺ",
                last_name_kana="やまだ",
                gender="女性",
                birthday=date(1990, 2, 3),
                address=Address(
                    postal_code="〒１０００００１", prefecture="tokyo", city=" 千代田区 "
                ),
                tags=["vip", " vip", "定期"],
            )
        ]
    )

    snapshot = attrs.to_snapshot()
    assert {k: snapshot[k] for k in ("email", "phone", "first_name", "first_name_kana")} == {
        "email": "hanako@example.jp",
        "phone": "+818011112222",
        "first_name": "花子",
        "first_name_kana": "ハナコ",
    }
    assert snapshot["last_name_kana"] == "ヤマダ"
    assert snapshot["gender"] == "female"
    assert snapshot["birthday"] == "1990-02-03"
    assert (snapshot["address_postal_code"], snapshot["address_prefecture"]) == (
        "100-0001",
        "東京都",
    )
    assert snapshot["address_city"] == "千代田区"
    assert snapshot["tags"] == ["vip", "定期"]


def test_absent_field_does_not_erase_a_known_value() -> None:
    attrs = fold(
        [upsert("e1", updated=0, email="a@b.jp"), upsert("e2", updated=5, first_name="太郎")]
    )

    assert attrs.email is not None and attrs.email.value == "a@b.jp"
    assert attrs.first_name is not None and attrs.first_name.value == "太郎"


def test_older_write_loses_per_field() -> None:
    newer = upsert("e2", updated=10, email="new@b.jp")
    older = upsert("e1", updated=1, email="old@b.jp", last_name="佐藤")

    attrs = fold([newer, older])

    assert attrs.to_snapshot()["email"] == "new@b.jp"
    assert attrs.to_snapshot()["last_name"] == "佐藤"


def test_without_updated_at_occurred_at_orders_writes_and_event_id_breaks_ties() -> None:
    a = upsert("e-a", occurred=3, first_name="A")
    b = upsert("e-b", occurred=3, first_name="B")
    c = upsert("e-c", occurred=1, first_name="C")

    assert fold([b, c, a]).to_snapshot()["first_name"] == "B"


def test_invalid_email_is_ignored_rather_than_stored() -> None:
    attrs = fold([upsert("e1", updated=0, email="a@b.jp"), upsert("e2", updated=5, email="broken")])

    assert attrs.to_snapshot()["email"] == "a@b.jp"


def test_custom_properties_are_last_writer_wins_per_key() -> None:
    attrs = fold(
        [
            upsert("e1", updated=1, properties={"rank": "gold", "skin": "dry"}),
            upsert("e2", updated=2, properties={"rank": "silver", "skin": None}),
        ]
    )

    assert attrs.to_snapshot()["properties"] == {"rank": "silver", "skin": "dry"}


def test_redact_clears_personal_fields_and_keeps_anonymous_ones() -> None:
    attrs = fold(
        [
            upsert(
                "e1",
                email="a@b.jp",
                phone="09012345678",
                first_name="太郎",
                last_name_kana="ヤマダ",
                birthday=date(1980, 1, 1),
                address=Address(prefecture="大阪"),
                gender="male",
                tags=["vip"],
                properties={"memo": "電話で注文"},
            )
        ]
    )

    snapshot = redact(attrs).to_snapshot()

    personal = ("email", "phone", "first_name", "last_name_kana", "birthday", "address_prefecture")
    assert [snapshot[k] for k in personal] == [None] * 6
    assert (snapshot["gender"], snapshot["tags"], snapshot["properties"]) == ("male", ["vip"], {})


def test_late_older_event_cannot_restore_redacted_data() -> None:
    request = Stamp(at=T0 + timedelta(days=1), occurred_at=T0 + timedelta(days=1), event_id="rq")
    erased = redact(fold([upsert("e1", updated=0, email="a@b.jp")]), through=request)

    late_old = apply_customer_event(erased, upsert("e0", updated=-5, email="old@b.jp"))
    later_new = apply_customer_event(late_old, upsert("e9", updated=60 * 48, email="new@b.jp"))

    assert late_old.to_snapshot()["email"] is None
    assert later_new.to_snapshot()["email"] == "new@b.jp"


FIELD_VALUES: dict[str, list[Any]] = {
    "email": [None, "a@b.jp", "c@d.jp", "bad"],
    "first_name": [None, "太郎", "花子"],
    "last_name_kana": [None, "やまだ", "サトウ"],
    "birthday": [None, date(1990, 1, 1), date(1991, 2, 2)],
    "address": [None, Address(postal_code="1000001", prefecture="東京"), Address(city="札幌市")],
    "tags": [None, [], ["vip"], ["a", "b"]],
    "properties": [{}, {"k": 1}, {"k": 2, "j": "x"}, {"j": None}],
}


@st.composite
def customer_histories(draw: st.DrawFn) -> list[CustomerUpserted]:
    events = []
    for n in range(draw(st.integers(1, 6))):
        fields = {name: draw(st.sampled_from(values)) for name, values in FIELD_VALUES.items()}
        updated = draw(st.one_of(st.none(), st.integers(0, 3)))
        events.append(upsert(f"e{n}", updated=updated, occurred=draw(st.integers(0, 3)), **fields))
    return events


@given(customer_histories(), st.data())
def test_attributes_converge_under_any_order_and_duplicates(
    history: list[CustomerUpserted], data: st.DataObject
) -> None:
    replay = data.draw(st.permutations(history + data.draw(st.lists(st.sampled_from(history)))))

    assert fold(replay) == fold(history)


@given(customer_histories(), st.integers(0, 6), st.integers(0, 3))
def test_redaction_gives_the_same_result_whenever_it_is_processed(
    history: list[CustomerUpserted], split: int, minute: int
) -> None:
    request = Stamp(at=T0 + timedelta(minutes=minute), occurred_at=T0, event_id="redact")

    at_the_end = redact(fold(history), through=request)
    midway = fold(history[split:], start=redact(fold(history[:split]), through=request))

    assert midway == at_the_end


def test_contact_details_for_messaging_and_nothing_after_erasure() -> None:
    from crm_profile.domain.snapshot import contact_details

    attrs = fold(
        [
            upsert(
                "e1",
                email="hanako@example.jp",
                phone="090-1111-2222",
                first_name="花子",
                last_name="山田",
                address=Address(
                    postal_code="1000001", prefecture="東京", city="千代田区", address1="丸の内1-1"
                ),
                properties={"line_user_id": "U" + "a" * 32},
                birthday=date(1990, 5, 17),
            ),
        ]
    )
    assert contact_details(attrs).as_stored() == {
        "first_name": "花子",
        "last_name": "山田",
        "email": "hanako@example.jp",
        "phone": "+819011112222",
        "birthday": "1990-05-17",
        "address_postal_code": "100-0001",
        "address_prefecture": "東京都",
        "address_city": "千代田区",
        "address_address1": "丸の内1-1",
        "line_user_id": "U" + "a" * 32,
    }
    assert contact_details(redact(attrs)).as_stored() == {}
