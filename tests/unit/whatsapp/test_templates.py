"""Graph's template list: only APPROVED templates, every page, `next` followed only on the channel's
own Graph origin (it carries the token), placeholders found and rendered."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.errors import AuthError
from wasession.whatsapp.reasons import NOT_SENT, in_words
from wasession.whatsapp.templates import Template, parse_page, render
from wasession.whatsapp.transport import RawResponse


class Pages:
    """A transport answering GETs from a dict of URL -> (status, body), recording what was asked."""

    def __init__(self, answers: dict[str, tuple[int, object]]) -> None:
        self.answers = answers
        self.asked: list[tuple[str, str]] = []

    def get(self, url: str, headers: Mapping[str, str]) -> RawResponse:
        self.asked.append((url, headers["Authorization"]))
        status, body = self.answers[url]
        return RawResponse(status, json.dumps(body).encode())

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> RawResponse:  # pragma: no cover
        raise AssertionError("no POST expected")

    def close(self) -> None:
        pass


BASE = "https://graph.example"
FIRST = f"{BASE}/v25.0/77/message_templates?fields=name,language,status,category,components&limit=100"


def _template(name: str, status: str = "APPROVED", text: str = "Hi {{1}}") -> dict[str, object]:
    return {"name": name, "language": "en", "status": status, "components": [{"type": "BODY", "text": text}]}


def test_every_page_is_read_and_only_approved_templates_are_kept() -> None:
    second = f"{BASE}/v25.0/77/message_templates?after=x"
    pages = Pages(
        {
            FIRST: (200, {"data": [_template("a"), _template("b", "PENDING")], "paging": {"next": second}}),
            second: (200, {"data": [_template("c")]}),
        }
    )
    found = CloudClient(pages, base_url=BASE).message_templates("77", "tok")
    assert [t.name for t in found] == ["a", "c"]
    assert [auth for _, auth in pages.asked] == ["Bearer tok", "Bearer tok"]


def test_a_next_link_to_another_origin_is_not_followed() -> None:
    pages = Pages({FIRST: (200, {"data": [_template("a")], "paging": {"next": "https://evil.example/steal"}})})
    assert [t.name for t in CloudClient(pages, base_url=BASE).message_templates("77", "tok")] == ["a"]
    assert [url for url, _ in pages.asked] == [FIRST]


def test_a_refused_token_raises_the_auth_error() -> None:
    pages = Pages({FIRST: (401, {"error": {"code": 190, "message": "Invalid OAuth access token."}})})
    with pytest.raises(AuthError):
        CloudClient(pages, base_url=BASE).message_templates("77", "tok")


def test_placeholders_and_rendering() -> None:
    t = Template("order", "en", "UTILITY", "Hi {{1}}, order {{2}}; thanks {{1}}")
    assert t.parameters == ["1", "2"]
    assert render(t.body, ["Ana", "#4"]) == "Hi Ana, order #4; thanks Ana"
    assert render(t.body, ["Ana"]) == "Hi Ana, order {{2}}; thanks Ana"
    assert render("Hello {{ first_name }}", {"first_name": "Bo"}) == "Hello Bo"
    assert parse_page({"data": [{"name": 1}, "junk", _template("ok")]})[0][0].name == "ok"
    assert parse_page("not a page") == ([], None)


def test_reasons_are_words_never_none() -> None:
    assert in_words(131047).startswith("More than 24 hours")
    assert in_words(None, "RequestNotSentError") == NOT_SENT
    assert in_words(999999, "Weird") == "Weird (WhatsApp error 999999)."
    assert in_words(132999) == "WhatsApp refused the template (WhatsApp error 132999)."
    assert "None" not in in_words(None, None, None)
