import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events.customers import Channel
from crm_messaging.domain.errors import TemplateRenderError
from crm_messaging.domain.rendering import (
    MessageTemplate,
    Rendered,
    TemplateProblem,
    links,
    render,
    sms_segments,
    template_context,
    validate_template,
)


def tpl(channel: Channel = Channel.EMAIL, **parts: str) -> MessageTemplate:
    return MessageTemplate(template_id="t1", channel=channel, parts=parts)


CONTEXT = template_context(
    profile={"last_name": "山田", "first_name": "花子", "note": "<b>VIP</b>"},
    traits={"order_count": 3},
    coupon_code="SPRING10",
    recommendations=[
        {"title": "緑茶", "url": "https://shop.example.jp/p/1"},
        {"title": "Tea & Co", "url": "https://shop.example.jp/p/2?a=1&b=2"},
    ],
)


def test_email_parts_render_with_html_escaping_only_in_html() -> None:
    template = tpl(
        subject="{{ profile.last_name }}様へ {{ coupon_code }}",
        text="{{ profile.note }} {{ traits.order_count }}回目",
        html='<p>{{ profile.note }}</p>{% for r in recommendations %}<a href="{{ r.url }}">'
        "{{ r.title }}</a>{% endfor %}",
    )
    assert render(template, CONTEXT) == Rendered(
        parts={
            "subject": "山田様へ SPRING10",
            "text": "<b>VIP</b> 3回目",
            "html": '<p>&lt;b&gt;VIP&lt;/b&gt;</p><a href="https://shop.example.jp/p/1">緑茶</a>'
            '<a href="https://shop.example.jp/p/2?a=1&amp;b=2">Tea &amp; Co</a>',
        },
        missing=[],
    )


def test_missing_variables_render_empty_and_are_reported_once() -> None:
    template = tpl(
        Channel.SMS,
        text="{{ profile.nickname }}さん {{ coupon }} {{ coupon }} {{ ghost.deep.path }}"
        "{% for r in recommendations %}{{ r.price }}{% endfor %}|{{ points + 1 }}|",
    )
    result = render(template, CONTEXT)
    assert result.parts == {"text": "さん   ||"}
    assert result.missing == [
        "profile.nickname",
        "coupon",
        "ghost",
        "recommendations[].price",
        "points",
    ]


def test_guarded_and_defaulted_variables_are_not_reported() -> None:
    template = tpl(
        Channel.LINE, text="{% if coupon %}x{% endif %}{{ nickname | default('お客様') }}"
    )
    assert render(template, {}) == Rendered(parts={"text": "お客様"}, missing=[])


def test_missing_coupon_is_reported_when_context_has_none() -> None:
    context = template_context(profile={}, traits={})
    assert render(tpl(Channel.SMS, text="{{ coupon_code }}"), context).missing == ["coupon_code"]


def test_sandbox_violation_raises_domain_error() -> None:
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render(tpl(Channel.SMS, text="{{ ''.__class__.__mro__ }}"), {})
    with pytest.raises(TemplateRenderError, match="unsafe"):
        render(tpl(Channel.SMS, text="{{ profile.clear() }}"), {"profile": {"a": 1}})


def test_syntax_error_at_send_time_is_a_render_error() -> None:
    with pytest.raises(TemplateRenderError) as info:
        render(tpl(Channel.SMS, text="{{ oops "), {})
    assert info.value.part == "text"


def test_validate_template_reports_parts_and_syntax() -> None:
    assert validate_template(tpl(subject="hi", text="ok {{ x }}")) == []
    assert validate_template(tpl(text="{% if %}", footer="x")) == [
        TemplateProblem("subject", "required part is missing"),
        TemplateProblem("footer", "unknown part"),
        TemplateProblem("text", "Expected an expression, got 'end of statement block'", 1),
    ]
    assert validate_template(tpl(subject="only")) == [
        TemplateProblem("text", "email needs a text or an html part")
    ]
    assert validate_template(tpl(Channel.POSTAL_DM, offer="{{ a }}", coupon="{{ b }}")) == []
    assert validate_template(tpl(Channel.CALL, talking_points="x")) == [
        TemplateProblem("script", "required part is missing")
    ]


def test_links_html_first_then_text_deduplicated() -> None:
    template = tpl(
        text="詳しくは https://shop.example.jp/p/1。クーポン https://shop.example.jp/c?x=1.",
        html='<a href="https://shop.example.jp/p/2?a=1&amp;b=2">x</a>'
        '<a href="mailto:a@b.jp">m</a><a href="https://shop.example.jp/p/1">y</a>',
        subject="no links",
    )
    assert links(render(template, {})) == [
        "https://shop.example.jp/p/2?a=1&b=2",
        "https://shop.example.jp/p/1",
        "https://shop.example.jp/c?x=1",
    ]


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),
        ("a" * 152 + "€", "GSM-7", 154, 1),
        ("a" * 152 + "€" + "a" * 10, "GSM-7", 164, 2),  # € not split: 152 | €+10
        ("あ" * 70, "UCS-2", 70, 1),
        ("あ" * 71, "UCS-2", 71, 2),
        ("あ" * 134, "UCS-2", 134, 2),
        ("あ" * 135, "UCS-2", 135, 3),
        ("Hello 山田様", "UCS-2", 9, 1),
        ("😀" * 35, "UCS-2", 70, 1),
        ("a" * 66 + "😀" + "a" * 10, "UCS-2", 78, 2),
        ("a" * 66 + "😀" * 2, "UCS-2", 70, 1),
        ("a" * 66 + "😀" * 3, "UCS-2", 72, 2),
        ("a" * 65 + "😀" * 3 + "b", "UCS-2", 72, 2),
    ],
)
def test_sms_segments(text: str, encoding: str, units: int, segments: int) -> None:
    result = sms_segments(text)
    assert (result.encoding, result.units, result.segments) == (encoding, units, segments)


@given(st.text(alphabet="あいうアイウ漢字abc", min_size=71, max_size=600))
def test_ucs2_bmp_segments_are_ceil_of_67(text: str) -> None:
    text = "あ" + text
    assert sms_segments(text).segments == -(-len(text) // 67)
