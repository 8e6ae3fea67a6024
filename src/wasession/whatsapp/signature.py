"""Webhook authenticity: the POST signature and the GET verification handshake.

Meta signs the exact bytes it sends (unicode escaped as `\\uXXXX`), so the signature must be
computed over the raw request body, never over a re-serialised copy of the parsed JSON.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"
_PREFIX = "sha256="


def sign(app_secret: str, raw_body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta would send for `raw_body`."""
    digest = hmac.new(app_secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return _PREFIX + digest


def signature_matches(app_secret: str, raw_body: bytes, header_value: str | None) -> bool:
    """True only for a well-formed header carrying the HMAC of `raw_body` under `app_secret`."""
    if not app_secret or header_value is None:
        # An empty secret would make every forger's HMAC "valid": refuse it outright.
        return False
    value = header_value.strip()
    if not value.startswith(_PREFIX):
        return False
    expected = sign(app_secret, raw_body).encode("ascii")
    # Compare bytes: compare_digest refuses non-ASCII str, and a garbage header must give False.
    given = value.encode("utf-8", errors="replace")
    return hmac.compare_digest(expected, given)


def verify_challenge(params: Mapping[str, str], verify_tokens: Iterable[str]) -> str | None:
    """The `hub.challenge` to echo when the handshake is genuine, else None."""
    if params.get("hub.mode") != "subscribe":
        return None
    challenge = params.get("hub.challenge")
    given = params.get("hub.verify_token")
    if challenge is None or not given:
        return None
    given_bytes = given.encode("utf-8")
    matched = False
    for token in verify_tokens:
        if not token:
            continue  # an unset token must not match an empty or missing one
        # No early exit, so the time taken does not reveal which token (if any) matched.
        matched |= hmac.compare_digest(token.encode("utf-8"), given_bytes)
    return challenge if matched else None
