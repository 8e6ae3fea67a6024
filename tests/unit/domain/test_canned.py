"""Canned replies' names, texts and merge fields (issue 23), pure."""

from __future__ import annotations

import pytest

from wasession.domain.canned import MERGE_FIELDS, check_name, check_text, fill
from wasession.domain.errors import ValidationError


def test_names_get_their_slash_and_are_lower_case() -> None:
    assert check_name("Thanks") == "/thanks"
    assert check_name(" /order-status_2 ") == "/order-status_2"
    for bad, code in (("", "required"), ("   ", "required"), ("/two words", "invalid"), ("/" + "a" * 64, "invalid")):
        with pytest.raises(ValidationError) as refused:
            check_name(bad)
        assert (refused.value.field, refused.value.code) == ("name", code)


def test_an_unknown_merge_field_is_refused_naming_it() -> None:
    assert check_text("Hi {{ contact_name }}, {{agent_name}} here ({{wa_id}})")
    with pytest.raises(ValidationError) as refused:
        check_text("Hi {{contact_nmae}}")
    assert refused.value.field == "text" and refused.value.code == "unknown_field"
    assert "{{contact_nmae}}" in refused.value.message and "{{contact_name}}" in refused.value.message
    with pytest.raises(ValidationError, match="at most 4096"):
        check_text("x" * 4097)
    with pytest.raises(ValidationError, match="may not be empty"):
        check_text(" \n")


def test_fill_replaces_each_field_and_leaves_other_braces() -> None:
    values = {"contact_name": "Ana", "wa_id": "15550001111", "agent_name": "maria"}
    assert set(values) == set(MERGE_FIELDS)
    assert fill("Hi {{contact_name}} ({{ wa_id }}), {{agent_name}}: {x}", values) == "Hi Ana (15550001111), maria: {x}"
    assert fill("{{contact_name}}", {}) == ""
