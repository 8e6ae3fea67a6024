from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from wasession.whatsapp.signature import SIGNATURE_HEADER, sign, signature_matches, verify_challenge

# RFC 4231, test case 2.
RFC_KEY = "Jefe"
RFC_DATA = b"what do ya want for nothing?"
RFC_DIGEST = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"


def test_header_name() -> None:
    assert SIGNATURE_HEADER == "X-Hub-Signature-256"


def test_known_vector() -> None:
    assert sign(RFC_KEY, RFC_DATA) == "sha256=" + RFC_DIGEST
    assert signature_matches(RFC_KEY, RFC_DATA, "sha256=" + RFC_DIGEST)


@pytest.mark.parametrize("name", ["café", "محمد", "🙂 Zoë"])
def test_non_ascii_bodies_are_signed_as_raw_bytes(name: str) -> None:
    body = {"entry": [{"changes": [{"value": {"contacts": [{"profile": {"name": name}}]}}]}]}
    escaped = json.dumps(body).encode()  # what Meta sends: \\uXXXX escapes
    unescaped = json.dumps(body, ensure_ascii=False).encode("utf-8")
    assert escaped != unescaped
    for raw in (escaped, unescaped):
        header = sign("s3cret", raw)
        assert header == "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
        assert signature_matches("s3cret", raw, header)
    # Re-serialising the parsed body changes the bytes, and with them the signature.
    assert not signature_matches("s3cret", unescaped, sign("s3cret", escaped))
    assert not signature_matches("s3cret", escaped, sign("s3cret", unescaped))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha1=" + RFC_DIGEST,
        RFC_DIGEST,  # no prefix
        "sha256=" + RFC_DIGEST[:-1],
        "sha256=" + RFC_DIGEST + "00",
        "sha256=" + "0" * 64,
        "sha256=" + "é" * 64,
        "sha256=\x00garbage",
        "SHA256=" + RFC_DIGEST,
    ],
)
def test_missing_or_garbage_header_is_refused(header: str | None) -> None:
    assert signature_matches(RFC_KEY, RFC_DATA, header) is False


def test_wrong_secret_or_body_is_refused() -> None:
    header = sign(RFC_KEY, RFC_DATA)
    assert not signature_matches("other", RFC_DATA, header)
    assert not signature_matches(RFC_KEY, RFC_DATA + b" ", header)


def test_empty_secret_never_matches() -> None:
    assert not signature_matches("", b"{}", sign("", b"{}"))


def test_surrounding_whitespace_is_tolerated() -> None:
    assert signature_matches(RFC_KEY, RFC_DATA, " sha256=" + RFC_DIGEST + "\r\n")


def _params(
    mode: str | None = "subscribe", token: str | None = "tok-b", challenge: str | None = "1158201444"
) -> dict[str, str]:
    params = {"hub.mode": mode, "hub.verify_token": token, "hub.challenge": challenge}
    return {k: v for k, v in params.items() if v is not None}


def test_challenge_is_echoed_for_any_known_token() -> None:
    assert verify_challenge(_params(), ["tok-a", "tok-b"]) == "1158201444"
    assert verify_challenge(_params(token="tok-a"), ("tok-a",)) == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        _params(token="wrong"),
        _params(token=None),
        _params(token=""),
        _params(mode="unsubscribe"),
        _params(mode=None),
        _params(challenge=None),
        _params(token="tok-bb"),
        _params(token="محمد"),
    ],
)
def test_challenge_refused(params: dict[str, str]) -> None:
    assert verify_challenge(params, ["tok-a", "tok-b"]) is None


def test_empty_configured_token_matches_nothing() -> None:
    assert verify_challenge(_params(token=""), [""]) is None
    assert verify_challenge(_params(), []) is None
