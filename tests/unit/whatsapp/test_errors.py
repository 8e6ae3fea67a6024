from __future__ import annotations

import random

import pytest

from wasession.whatsapp.errors import (
    AuthError,
    CloudApiError,
    CloudError,
    CloudPermissionError,
    InvalidParameterError,
    PairRateLimitError,
    PolicyBlockError,
    ReEngagementError,
    RetryAdvice,
    TemplateError,
    ThrottledError,
    UndeliverableError,
    UnsupportedMessageTypeError,
    backoff_delay,
    error_for,
    error_from_response,
    pair_backoff_delay,
)

NEVER, BACKOFF, PAIR, PAUSE = (
    RetryAdvice.NEVER,
    RetryAdvice.BACKOFF,
    RetryAdvice.PAIR_BACKOFF,
    RetryAdvice.PAUSE_CHANNEL,
)

# Every code of the Cloud API's error reference that the client knows, its class and what to do
# (ADR docs/decisions/0002-cloud-api-retry-policy.md).
TABLE: list[tuple[int, type[CloudApiError], RetryAdvice]] = [
    (0, AuthError, PAUSE),
    (190, AuthError, PAUSE),
    (3, CloudPermissionError, PAUSE),
    (10, CloudPermissionError, PAUSE),
    (200, CloudPermissionError, PAUSE),
    (250, CloudPermissionError, PAUSE),
    (299, CloudPermissionError, PAUSE),
    (4, ThrottledError, BACKOFF),
    (80007, ThrottledError, BACKOFF),
    (130429, ThrottledError, BACKOFF),
    (131056, PairRateLimitError, PAIR),
    (131048, PolicyBlockError, NEVER),
    (131064, PolicyBlockError, NEVER),
    (131057, ThrottledError, BACKOFF),
    (1, ThrottledError, BACKOFF),
    (2, ThrottledError, BACKOFF),
    (131000, ThrottledError, BACKOFF),
    (131016, ThrottledError, BACKOFF),
    (131047, ReEngagementError, NEVER),
    (131026, UndeliverableError, NEVER),
    (131049, UndeliverableError, NEVER),
    (131050, UndeliverableError, NEVER),
    (130472, UndeliverableError, NEVER),
    (131051, UnsupportedMessageTypeError, NEVER),
    (131021, InvalidParameterError, NEVER),
    (131042, PolicyBlockError, NEVER),
    (131045, PolicyBlockError, NEVER),
    (131031, PolicyBlockError, NEVER),
    (368, PolicyBlockError, NEVER),
    (130497, PolicyBlockError, NEVER),
    (130403, PolicyBlockError, NEVER),
    (131062, InvalidParameterError, NEVER),
    (100, InvalidParameterError, NEVER),
    (131008, InvalidParameterError, NEVER),
    (131009, InvalidParameterError, NEVER),
    (132000, TemplateError, NEVER),
    (132001, TemplateError, NEVER),
    (132015, TemplateError, NEVER),
    (132016, TemplateError, NEVER),
    (132999, TemplateError, NEVER),
]


@pytest.mark.parametrize(("code", "cls", "advice"), TABLE, ids=[str(c) for c, _, _ in TABLE])
def test_code_maps_to_class_and_advice(code: int, cls: type[CloudApiError], advice: RetryAdvice) -> None:
    exc = error_for(CloudError(code=code, title="t", message="m", details=None), 400)
    assert type(exc) is cls
    assert exc.retry is advice
    assert exc.http_status == 400
    assert exc.code == code


@pytest.mark.parametrize("code", [5, 300, 133010, 131999, 133000, 999999, -1])
def test_unknown_codes_are_never_retried(code: int) -> None:
    exc = error_for(CloudError(code=code, title="", message="", details=None))
    assert type(exc) is CloudApiError
    assert exc.retry is NEVER


META_EXAMPLE = {
    "error": {
        "message": "(#130429) Rate limit hit",
        "type": "OAuthException",
        "code": 130429,
        "error_data": {
            "messaging_product": "whatsapp",
            "details": "Cloud API message throughput has been reached.",
        },
        "error_subcode": 2494055,
        "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
    }
}


def test_error_from_response_reads_metas_example() -> None:
    exc = error_from_response(400, META_EXAMPLE)
    assert isinstance(exc, ThrottledError)
    assert exc.retry is BACKOFF
    assert exc.http_status == 400
    assert exc.error == CloudError(
        code=130429,
        title="Rate limit hit",
        message="(#130429) Rate limit hit",
        details="Cloud API message throughput has been reached.",
        subcode=2494055,
        fbtrace_id="Az8or2yhqkZfEZ-_4Qn_Bam",
    )
    assert "130429" in str(exc) and "throughput" in str(exc)


def test_error_from_response_accepts_raw_bytes_and_text() -> None:
    import json

    raw = json.dumps(META_EXAMPLE)
    assert isinstance(error_from_response(400, raw.encode()), ThrottledError)
    assert isinstance(error_from_response(400, raw), ThrottledError)


def test_status_webhook_error_shape() -> None:
    body = {
        "error": {
            "code": 131047,
            "title": "Re-engagement message",
            "message": "Re-engagement message",
            "error_data": {"details": "more than 24 hours"},
        }
    }
    exc = error_from_response(400, body)
    assert isinstance(exc, ReEngagementError)
    assert exc.error is not None and exc.error.title == "Re-engagement message"
    assert exc.error.details == "more than 24 hours"


@pytest.mark.parametrize(
    ("status", "body", "advice"),
    [
        (500, None, BACKOFF),
        (502, b"<html>Bad gateway</html>", BACKOFF),
        (503, "", BACKOFF),
        (429, None, BACKOFF),
        (400, None, NEVER),
        (404, b"not found", NEVER),
        (400, {"error": "string"}, NEVER),
        (400, {"error": {"code": "abc"}}, NEVER),
        (500, {"error": {"message": "no code"}}, BACKOFF),
        (400, [1, 2], NEVER),
        (400, b"[" * 100_000, NEVER),
    ],
)
def test_unreadable_error_bodies(status: int, body: object, advice: RetryAdvice) -> None:
    exc = error_from_response(status, body)
    assert type(exc) is CloudApiError
    assert exc.error is None
    assert exc.retry is advice
    assert str(status) in str(exc)


def test_string_code_is_read() -> None:
    exc = error_from_response(400, {"error": {"code": "131056", "message": "(#131056) pair"}})
    assert isinstance(exc, PairRateLimitError)


def test_backoff_is_exponential_with_equal_jitter() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(300.0, 2.0**attempt)
        samples = [backoff_delay(attempt, rng=rng) for _ in range(200)]
        assert all(ceiling / 2 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.9  # really spread over the upper half
        assert min(samples) < ceiling * 0.6
    # Each retry waits at least as long as the one before, whatever the jitter drew.
    worst = [min(backoff_delay(a, rng=rng) for _ in range(100)) for a in range(1, 9)]
    best = [max(backoff_delay(a, rng=rng) for _ in range(100)) for a in range(1, 9)]
    assert all(best[i] <= worst[i + 1] for i in range(7))
    assert backoff_delay(10_000, rng=rng) <= 300.0
    assert backoff_delay(-3, rng=rng) <= 1.0
    assert backoff_delay(3, base=0.5, cap=2.0, rng=rng) <= 2.0


def test_backoff_is_deterministic_with_a_seeded_rng() -> None:
    assert backoff_delay(4, rng=random.Random(1)) == backoff_delay(4, rng=random.Random(1))


def test_pair_backoff_follows_metas_4_to_the_x() -> None:
    assert [pair_backoff_delay(x) for x in range(6)] == [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0]
    assert pair_backoff_delay(6) == 3600.0  # 4096 s capped at one hour
    assert pair_backoff_delay(10**9) == 3600.0
    assert pair_backoff_delay(-1) == 1.0
