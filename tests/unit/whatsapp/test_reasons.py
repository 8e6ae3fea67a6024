"""Issue 23: why a send failed, in words, for every code of Meta's Cloud API error table, sharpened by
Meta's `error_data.details` where they say what to fix."""

from __future__ import annotations

import pytest

from wasession.whatsapp.reasons import WRONG_NUMBER_ID, in_words

# Every code of the reference's error table (ranges by their ends).
REFERENCE_CODES = [
    0, 190, 3, 10, 200, 299, 4, 80007, 130429, 131056, 131048, 131064, 131057, 1, 2, 131000, 131016,
    131047, 131026, 131049, 131050, 131051, 131021, 131042, 131045, 131031, 368, 130497, 130403,
    130472, 131062, 100, 131008, 131009, 132000, 132001, 132005, 132007, 132012, 132015, 132016,
]  # fmt: skip


@pytest.mark.parametrize("code", REFERENCE_CODES)
def test_every_reference_code_has_words_of_its_own(code: int) -> None:
    words = in_words(code, "Meta's title", None)
    assert "Meta's title" not in words and words.endswith("."), words


def test_a_wrong_phone_number_id_is_named_as_such() -> None:
    detail = (
        "Unsupported post request. Object with ID '1234' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation."
    )
    assert in_words(100, "Invalid parameter", detail) == WRONG_NUMBER_ID
    assert in_words(100, "Invalid parameter", "Param text['body'] must be non-empty.") == (
        "WhatsApp refused a parameter of the message: Param text['body'] must be non-empty."
    )


def test_template_problems_carry_metas_details() -> None:
    missing = in_words(
        132001, "Template name does not exist in the translation", "template name (x) does not exist in en_US"
    )
    assert missing == (
        "The template does not exist in this language or is not approved: template name (x) does not exist in en_US."
    )
    count = in_words(
        132000,
        "Number of parameters does not match",
        "body: number of localizable_params (2) does not match the expected number of params (1)",
    )
    assert count.startswith("The template's parameters do not match the approved template: body: number of")


@pytest.mark.parametrize(
    ("code", "start"),
    [
        (131047, "More than 24 hours passed"),  # outside the window: re-engagement
        (130429, "The number is sending faster"),  # rate
        (131056, "Too many messages to this customer"),
        (131048, "WhatsApp restricted sending because earlier messages were blocked or reported as spam"),
    ],
)
def test_window_rate_and_spam(code: int, start: str) -> None:
    assert in_words(code, None, "some detail").startswith(start)
