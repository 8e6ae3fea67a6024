"""The outcome classifier: every branch from a send's result to what the sender does next, no database.

Errors are built the way the client builds them, from Meta's answer bodies and from transport failures."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from wasession.outbox.outcome import MAX_ATTEMPTS, Accepted, Failed, Paused, Retry, Unknown, classify
from wasession.whatsapp.client import CloudClient, SendResult
from wasession.whatsapp.errors import error_from_response
from wasession.whatsapp.transport import AnswerTooLarge, BadUrl, MaybeSent, NotSent, RawResponse

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def _meta(code: int, message: str = "", details: str | None = None, status: int = 400) -> Exception:
    body: dict[str, object] = {"code": code, "message": message or f"(#{code}) Something"}
    if details:
        body["error_data"] = {"details": details}
    return error_from_response(status, {"error": body})


class _Failing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def post(self, url: str, body: bytes, headers: object) -> RawResponse:
        raise self.exc

    def close(self) -> None:
        pass


def _through_client(exc: Exception) -> Exception:
    """What the sender gets when the transport fails this way."""
    client = CloudClient(_Failing(exc), base_url="http://graph.test")  # type: ignore[arg-type]
    try:
        client.send_text(phone_number_id="1", access_token="t", to="15550001", body="hi")
    except Exception as raised:
        return raised
    raise AssertionError("the client did not raise")


def test_an_accepted_send_carries_its_wamid() -> None:
    result = SendResult(wamid="wamid.A", wa_id="15550001", user_id=None, message_status=None)
    assert classify(result, attempt=1, now=NOW) == Accepted("wamid.A")


@pytest.mark.parametrize("code", [130429, 131000, 131016, 131057, 80007, 4, 2, 1])
def test_throttling_and_outages_retry_with_growing_backoff(code: int) -> None:
    first = classify(_meta(code), attempt=1, now=NOW, rng=random.Random(1))
    later = classify(_meta(code), attempt=5, now=NOW, rng=random.Random(1))
    assert isinstance(first, Retry) and isinstance(later, Retry)
    assert first.code == code and first.at == NOW + timedelta(seconds=first.delay_seconds)
    assert 1.0 <= first.delay_seconds <= 2.0  # equal jitter: between half the ceiling 2**1 and the ceiling
    assert 16.0 <= later.delay_seconds <= 32.0


def test_a_bare_server_error_retries_and_a_bare_client_error_fails() -> None:
    assert isinstance(classify(error_from_response(503, b"<html>busy</html>"), attempt=1, now=NOW), Retry)
    failed = classify(error_from_response(404, b"not json"), attempt=1, now=NOW)
    assert isinstance(failed, Failed) and failed.code is None and "HTTP 404" in failed.detail


def test_a_retryable_error_fails_once_the_attempts_are_used_up() -> None:
    assert isinstance(classify(_meta(130429), attempt=MAX_ATTEMPTS - 1, now=NOW), Retry)
    final = classify(_meta(130429), attempt=MAX_ATTEMPTS, now=NOW)
    assert isinstance(final, Failed) and final.code == 130429


def test_the_pair_rate_limit_waits_four_to_the_attempt() -> None:
    """Meta's rule for 131056, with no jitter; other users of the channel are not held back."""
    outcome = classify(_meta(131056), attempt=3, now=NOW)
    assert outcome == Retry(NOW + timedelta(seconds=64), 64.0, 131056)
    assert isinstance(classify(_meta(131056), attempt=MAX_ATTEMPTS, now=NOW), Failed)


@pytest.mark.parametrize("code", [131026, 131049, 131051, 368, 131031, 100, 131008, 132000, 132001])
def test_errors_a_retry_cannot_fix_fail_with_their_code(code: int) -> None:
    outcome = classify(_meta(code, details=f"detail of {code}"), attempt=1, now=NOW)
    assert isinstance(outcome, Failed)
    assert outcome.code == code and outcome.title == "Something" and outcome.detail == f"detail of {code}"


def test_a_failure_without_details_keeps_metas_message() -> None:
    outcome = classify(_meta(131026, message="(#131026) Message undeliverable"), attempt=1, now=NOW)
    assert outcome == Failed(131026, "Message undeliverable", "(#131026) Message undeliverable")


def test_window_closed_131047_fails_the_send_with_its_code() -> None:
    """Not retried (only a template reaches the user now); recording then closes the window early."""
    outcome = classify(_meta(131047, details="More than 24 hours have passed"), attempt=1, now=NOW)
    assert outcome == Failed(131047, "Something", "More than 24 hours have passed")


@pytest.mark.parametrize("code", [190, 0, 3, 10, 200, 299])
def test_credential_and_permission_errors_pause_the_channel(code: int) -> None:
    error = _meta(code, message=f"(#{code}) Token expired")
    outcome = classify(error, attempt=1, now=NOW)
    assert outcome == Paused(code, "Token expired", str(error), f"error {code}: (#{code}) Token expired")


def test_a_request_that_never_left_retries() -> None:
    error = _through_client(NotSent("ConnectionRefusedError"))
    outcome = classify(error, attempt=1, now=NOW, rng=random.Random(2))
    assert isinstance(outcome, Retry) and outcome.code is None


@pytest.mark.parametrize(
    "exc", [MaybeSent("ReadTimeout"), AnswerTooLarge("answer ran past the cap")], ids=["timeout", "too-large"]
)
def test_a_request_that_may_have_left_is_unknown_and_never_resent(exc: Exception) -> None:
    outcome = classify(_through_client(exc), attempt=1, now=NOW)
    assert isinstance(outcome, Unknown) and "may or may not have reached" in outcome.detail


def test_a_2xx_without_a_message_id_is_unknown() -> None:
    client = CloudClient(_Answering(RawResponse(200, b"{}")), base_url="http://graph.test")  # type: ignore[arg-type]
    with pytest.raises(Exception) as raised:
        client.send_text(phone_number_id="1", access_token="t", to="15550001", body="hi")
    assert isinstance(classify(raised.value, attempt=1, now=NOW), Unknown)


def test_an_unusable_base_url_fails_at_once() -> None:
    outcome = classify(_through_client(BadUrl("unsupported URL")), attempt=1, now=NOW)
    assert isinstance(outcome, Failed) and outcome.code is None and "not usable" in outcome.detail


def test_a_request_that_could_not_be_built_fails_with_the_exception_named() -> None:
    outcome = classify(ValueError("a send needs `to` or `recipient`"), attempt=1, now=NOW)
    assert outcome == Failed(None, "ValueError", "a send needs `to` or `recipient`")


class _Answering:
    def __init__(self, answer: RawResponse) -> None:
        self.answer = answer

    def post(self, url: str, body: bytes, headers: object) -> RawResponse:
        return self.answer

    def close(self) -> None:
        pass
