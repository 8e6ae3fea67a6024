"""Reminder templates: merge fields, fallbacks, literal braces, and that nothing else is evaluated."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wasession.domain.errors import ValidationError
from wasession.domain.template import (
    MAX_TEXT_LENGTH,
    MERGE_FIELDS,
    Template,
    parse_template,
    render_template,
    sample_values,
)

ANA = {"contact_firstname": "Ana", "contact_lastname": "Silva", "company_name": "Acme"}


@pytest.mark.parametrize(
    ("source", "values", "expected"),
    [
        ("Hi {contact_firstname}!", ANA, "Hi Ana!"),
        ("Hi {contact_firstname} {contact_lastname} from {company_name}", ANA, "Hi Ana Silva from Acme"),
        ("Hi {contact_firstname}!", {}, "Hi !"),
        ("Hi {contact_firstname}!", {"contact_firstname": None}, "Hi !"),
        ("Hi {contact_firstname}!", {"contact_firstname": "   "}, "Hi !"),
        ("Hi {contact_firstname|there}!", {}, "Hi there!"),
        ("Hi {contact_firstname|there}!", {"contact_firstname": None}, "Hi there!"),
        ("Hi {contact_firstname|there}!", {"contact_firstname": ""}, "Hi there!"),
        ("Hi {contact_firstname|there}!", {"contact_firstname": " \t"}, "Hi there!"),
        ("Hi {contact_firstname|there}!", ANA, "Hi Ana!"),
        ("Hi {contact_firstname|dear customer, friend.}", {}, "Hi dear customer, friend."),
        ("Hi {contact_firstname|}!", {}, "Hi !"),
        ("{contact_firstname|a|b}", {}, "a|b"),
        ("{contact_firstname|:>10!r}", {}, ":>10!r"),
        ("{contact_firstname| there }", {}, " there "),  # the fallback is verbatim
        ("{ contact_firstname }", ANA, "Ana"),
        ("{\tcontact_firstname |x}", ANA, "Ana"),
        ("{{contact_firstname}}", ANA, "{contact_firstname}"),
        ("{{{contact_firstname}}}", ANA, "{Ana}"),
        ("{{", {}, "{"),
        ("}}", {}, "}"),
        ("a}}b{{c", {}, "a}b{c"),
        ("{{}}", {}, "{}"),
        ("", {}, ""),
        ("no fields at all", {}, "no fields at all"),
        ("{contact_email} {contact_phone}", {"contact_email": "a@b.c", "contact_phone": "+1"}, "a@b.c +1"),
        ("{contact_firstname}{contact_firstname}", ANA, "AnaAna"),
        ("Olá {contact_firstname} 👋", ANA, "Olá Ana 👋"),
        ("{contact_firstname}", {"contact_firstname": "{company_name}"}, "{company_name}"),  # values are inert
    ],
)
def test_render(source: str, values: dict[str, str | None], expected: str) -> None:
    assert render_template(source, values) == expected
    assert parse_template(source).render(values) == expected


def test_fields_lists_the_merge_fields_used() -> None:
    template = parse_template("{contact_firstname|x} {{company_name}} {contact_email} {contact_firstname}")
    assert template.fields() == frozenset({"contact_firstname", "contact_email"})
    assert parse_template("plain").fields() == frozenset()


def test_template_is_a_frozen_value() -> None:
    assert parse_template("Hi {contact_firstname}") == Template("Hi {contact_firstname}")
    assert Template("a").source == "a"


@pytest.mark.parametrize(
    "token",
    [
        "contact.name",
        "contact_firstname.upper",
        "0",
        "",
        " ",
        "x[0]",
        "contact_firstname[0]",
        "contact_firstname!r",
        "contact_firstname:>10",
        "contact_firstname!s:^20",
        "contact_nickname",
        "Contact_Firstname",
        "CONTACT_FIRSTNAME",
        "__class__",
        "contact_firstname.__class__.__mro__",
        "company_name()",
        "contact_first name",
    ],
)
def test_nothing_else_is_evaluated(token: str) -> None:
    source = "Hi {" + token + "}!"
    with pytest.raises(ValidationError) as info:
        parse_template(source, field="reminder_template")
    error = info.value
    assert error.code == "unknown_merge_field" and error.field == "reminder_template"
    assert "{" + token + "}" in error.message
    for name in MERGE_FIELDS:
        assert "{" + name + "}" in error.message


def test_unknown_field_with_a_fallback_is_still_unknown() -> None:
    with pytest.raises(ValidationError) as info:
        parse_template("{contact_nickname|friend}")
    assert info.value.code == "unknown_merge_field" and "contact_nickname" in info.value.message


@pytest.mark.parametrize(
    ("source", "position", "what"),
    [
        ("{", 1, "unclosed '{'"),
        ("}", 1, "unmatched '}'"),
        ("Hi {contact_firstname", 4, "unclosed '{'"),
        ("Hi contact_firstname}", 21, "unmatched '}'"),
        ("Hi {contact_firstname}}", 23, "unmatched '}'"),
        ("a {b {contact_firstname}", 3, "unclosed '{'"),
        ("{{{", 3, "unclosed '{'"),
        ("{contact_firstname|a{b}", 1, "unclosed '{'"),
        ("{contact_firstname|a}b}", 23, "unmatched '}'"),
    ],
)
def test_lone_and_unclosed_braces_give_their_position(source: str, position: int, what: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_template(source, field="tpl")
    error = info.value
    assert error.code == "invalid_template" and error.field == "tpl"
    assert f"{what} at character {position}" in error.message and error.message.startswith("tpl")


def test_length_limit_is_4096_characters() -> None:
    assert MAX_TEXT_LENGTH == 4096
    parse_template("x" * 4096)
    parse_template("é" * 4096)  # characters, not bytes
    with pytest.raises(ValidationError) as info:
        parse_template("x" * 4097)
    error = info.value
    assert error.code == "too_long" and error.field == "reminder_template"
    assert "4096" in error.message and "4097" in error.message


def test_length_is_checked_before_syntax() -> None:
    with pytest.raises(ValidationError) as info:
        parse_template("{" * 5000)
    assert info.value.code == "too_long"


def test_direct_construction_validates_too() -> None:
    with pytest.raises(ValidationError):
        Template("{oops}")


def test_render_template_raises_for_bad_source() -> None:
    with pytest.raises(ValidationError):
        render_template("{contact.name}", ANA)


def test_sample_values_cover_every_merge_field() -> None:
    values = sample_values("Acme")
    assert set(values) == set(MERGE_FIELDS)
    assert values == {
        "contact_firstname": "Ana",
        "contact_lastname": "Silva",
        "contact_email": "ana@example.com",
        "contact_phone": "+15550001111",
        "company_name": "Acme",
    }
    assert sample_values()["company_name"] == ""
    assert render_template("Hi {contact_firstname} from {company_name|us}", sample_values()) == "Hi Ana from us"


_piece = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=8),
    st.sampled_from(["{{", "}}"]),
    st.builds(lambda n: "{" + n + "}", st.sampled_from(MERGE_FIELDS)),
    st.builds(
        lambda n, f: "{" + n + "|" + f + "}",
        st.sampled_from(MERGE_FIELDS),
        st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=6),
    ),
)
_values = st.dictionaries(
    st.sampled_from(MERGE_FIELDS), st.one_of(st.none(), st.text(max_size=6)), max_size=len(MERGE_FIELDS)
)


@settings(max_examples=200)
@given(st.lists(_piece, max_size=10).map("".join), _values)
def test_render_never_raises_on_a_parsed_template(source: str, values: dict[str, str | None]) -> None:
    rendered = parse_template(source).render(values)
    assert isinstance(rendered, str)


@settings(max_examples=200)
@given(st.text(max_size=30))
def test_any_text_parses_or_raises_validation_error(source: str) -> None:
    try:
        template = parse_template(source)
    except ValidationError as error:
        assert error.code in {"unknown_merge_field", "invalid_template"}
    else:
        template.render({})


@settings(max_examples=100)
@given(st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=40))
def test_text_without_braces_renders_as_is(text: str) -> None:
    assert render_template(text, {}) == text


@settings(max_examples=100)
@given(st.text(max_size=40))
def test_escaped_text_renders_back_to_itself(text: str) -> None:
    escaped = text.replace("{", "{{").replace("}", "}}")
    if len(escaped) <= MAX_TEXT_LENGTH:
        assert render_template(escaped, sample_values("Acme")) == text
