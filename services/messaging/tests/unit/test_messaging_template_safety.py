"""Issue 12, items 3 and 10 in the pure render: output budgets and links from data."""

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crm_common.events.customers import Channel
from crm_messaging.domain.errors import TemplateOverBudget
from crm_messaging.domain.rendering import (
    MessageTemplate,
    TemplateProblem,
    links,
    render,
    template_context,
    validate_template,
)
from crm_messaging.domain.sandbox import MARK_CLOSE, MARK_OPEN

EVIL = "https://evil.example/phish"


def tpl(channel: Channel = Channel.EMAIL, **parts: str) -> MessageTemplate:
    return MessageTemplate(template_id="t1", channel=channel, parts=parts)


def person(first_name: str, **extra: object) -> dict[str, object]:
    return template_context(
        profile={"first_name": first_name, "last_name": "山田"}, traits={}, extra=extra
    )


def test_a_url_in_a_first_name_is_never_a_link_of_the_message() -> None:
    template = tpl(
        subject="{{ profile.first_name }}様",
        text="{{ profile.first_name }}様\nセール https://shop.example.jp/sale\n",
        html='<p>{{ profile.first_name }}</p><a href="{{ profile.first_name }}">x</a>'
        "{{ profile.last_name | safe }}"
        '<a href="https://shop.example.jp/p/{{ profile.last_name }}">p</a>',
    )
    rendered = render(template, person(EVIL))
    assert links(rendered) == [
        "https://shop.example.jp/p/山田",  # the template chose the site, data the path
        "https://shop.example.jp/sale",
    ]
    assert rendered.parts["text"] == f"{EVIL}様\nセール https://shop.example.jp/sale\n"


@pytest.mark.parametrize(
    ("source", "first_name"),
    [
        ('<a href="https://{{ profile.first_name }}/x">x</a>', "evil.example"),
        ('<a href="https://shop.example.jp{{ profile.first_name }}">x</a>', "@evil.example/"),
        ('<a href="https://shop.example.jp{{ profile.first_name }}">x</a>', ".evil.example"),
        ("{{ profile.first_name | safe }}", f'<a href="{EVIL}">win</a>'),
        ("<a {{ profile.first_name | safe }}>x</a>", f'href="{EVIL}"'),
        ("{{ profile.first_name | safe }}", f'{MARK_CLOSE}<a href="{EVIL}">x</a>{MARK_OPEN}'),
    ],
)
def test_data_cannot_choose_the_site_of_an_html_link(source: str, first_name: str) -> None:
    rendered = render(tpl(subject="s", html=source), person(first_name))
    assert links(rendered) == []
    assert MARK_OPEN not in rendered.parts["html"] and MARK_CLOSE not in rendered.parts["html"]


@pytest.mark.parametrize(
    "first_name",
    [EVIL, f"x {EVIL} y", f"{MARK_CLOSE}{EVIL}{MARK_OPEN}", "https://", "evil.example"],
)
def test_data_cannot_choose_the_site_of_a_text_link(first_name: str) -> None:
    template = tpl(Channel.SMS, text="{{ profile.first_name }} https://{{ profile.first_name }}")
    rendered = render(template, person(first_name))
    assert links(rendered) == []
    assert MARK_OPEN not in rendered.parts["text"]


@given(
    st.text(
        alphabet=st.sampled_from(
            ["h", "t", "p", "s", ":", "/", ".", "x", " ", "<", '"', "=", "a", MARK_OPEN, MARK_CLOSE]
        ),
        max_size=40,
    )
)
def test_whatever_the_data_no_link_but_the_templates(first_name: str) -> None:
    template = tpl(
        text="{{ profile.first_name }} https://shop.example.jp/a {{ profile.first_name }}",
        html='{{ profile.first_name | safe }}<a href="https://shop.example.jp/b">b</a>'
        "{{ profile.first_name }}",
        subject="s",
    )
    found = links(render(template, person(first_name)))
    assert set(found) <= {"https://shop.example.jp/a", "https://shop.example.jp/b"}


def test_the_recovery_url_is_a_trusted_link_but_only_as_it_is() -> None:
    recovery = "https://shop.example.jp/checkouts/abc/recover"
    template = tpl(
        Channel.SMS, text="{{ recovery_url }} {{ recovery_url ~ '?x' }} {{ profile.first_name }}"
    )
    rendered = render(template, person(EVIL, recovery_url=recovery))
    assert links(rendered) == [recovery]


def test_an_output_over_the_budget_stops_while_generating() -> None:
    # 10^11 bytes if generated to the end: the budget stops it at the first MiB.
    bomb = (
        "{% for a in range(100000) %}{% for b in range(100000) %}0123456789{% endfor %}{% endfor %}"
    )
    started = time.monotonic()
    with pytest.raises(TemplateOverBudget) as info:
        render(tpl(subject="s", html=bomb), {}, max_bytes=1024 * 1024)
    assert time.monotonic() - started < 5
    assert (info.value.part, info.value.budget) == ("html", "output")
    assert str(info.value) == "html: output is over the budget (1048576 bytes)"


def test_the_budget_is_for_the_whole_message() -> None:
    template = tpl(subject="x" * 600, text="y" * 600)
    with pytest.raises(TemplateOverBudget) as info:
        render(template, {}, max_bytes=1000)
    assert info.value.part == "text"
    assert render(template, {}, max_bytes=1200).parts["text"] == "y" * 600


@pytest.mark.parametrize(
    ("source", "budget"),
    [
        ("{{ 'x' * 1000000000 }}", "output"),
        ("{{ [1, 2] * 1000000000 }}", "output"),
        ("{{ 1000000000 * 'x' }}", "output"),
        ("{{ 2 ** 10000000 }}", "time"),
        ("{{ (2 ** 1000) ** 1000 }}", "time"),
    ],
)
def test_one_huge_operation_is_refused_before_it_runs(source: str, budget: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateOverBudget) as info:
        render(tpl(Channel.SMS, text=source), {}, max_bytes=100_000)
    assert (info.value.part, info.value.budget) == ("text", budget)
    assert time.monotonic() - started < 2


def test_small_repeats_and_powers_still_work() -> None:
    rendered = render(tpl(Channel.SMS, text="{{ '-' * 5 }}{{ 2 ** 10 }}{{ x * 3 }}"), {"x": 2})
    assert rendered.parts["text"] == "-----10246"


def test_template_source_size_is_capped() -> None:
    big = tpl(subject="s", text="a" * 600, html="b" * 500)
    assert validate_template(big, max_source_bytes=1000) == [
        TemplateProblem("text", "template source is 1101 bytes, over 1000")
    ]
    assert validate_template(big, max_source_bytes=1101) == []
