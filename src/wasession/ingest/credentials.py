"""Which changes of a logged body are authentic when it is applied, and the GET handshake.

What the ack lets into the log is decided in `gate.py`; here every change is judged again, when
applied, against the secrets as stored then.

A body is trusted change by change: each `entry[].changes[]` value names its channel through
`metadata.phone_number_id`, and only that channel's app secret may vouch for it. One tenant's
secret therefore never signs for another tenant's number. Secrets are looked up per addressed
phone_number_id and decrypted only when the stored row changed, so the cost of a check does not
grow with the number of channels.

Account-level changes (account_update, template reviews) carry no phone_number_id, and applying
them touches no channel. Meta sends them alone, so a body whose only changes are such may be
vouched for by any channel's secret: it is kept in the raw log and nothing else. That one check
reads every channel's (cached) secret; bodies that name a number never need it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from wasession.lifecycle.context import ServiceContext
from wasession.store import channels as channel_store
from wasession.store.db import Connection
from wasession.whatsapp.payload import PayloadError, WebhookBatch, parse_webhook
from wasession.whatsapp.signature import signature_matches, verify_challenge


class SignatureRejected(Exception):
    """No change of the body is signed by the app secret of the channel it addresses: nothing of
    it was stored."""


@dataclass(frozen=True)
class Verdict:
    """Which phone_number_ids of one body may be applied.

    `verified`: a channel has it and its app secret signs the body; `refused`: a channel has it
    and its secret does not sign; the others no channel has (unroutable, kept for the admin only
    when something else in the body verified). `trusted`: the caller verified the body itself."""

    verified: frozenset[str] = frozenset()
    refused: frozenset[str] = frozenset()
    unroutable: frozenset[str] = frozenset()
    trusted: bool = False
    account_level: bool = False  # only changes without a number, signed by some channel's secret

    @property
    def accepted(self) -> bool:
        return self.trusted or bool(self.verified) or self.account_level

    def allows(self, phone_number_id: str) -> bool:
        """Whether changes for this number may be applied. A number no channel had when the body
        was judged is not applied even if a channel claims it a moment later: that channel's
        secret never vouched for it."""
        return self.trusted or phone_number_id in self.verified


TRUSTED = Verdict(trusted=True)


def has_account_level_changes(batch: WebhookBatch) -> bool:
    return any(o.phone_number_id is None for o in batch.others)


def addressed(batch: WebhookBatch) -> list[str]:
    """The phone_number_ids the body's changes name, in order of first appearance."""
    seen: dict[str, None] = {}
    for pnid in (
        *(m.phone_number_id for m in batch.messages),
        *(s.phone_number_id for s in batch.statuses),
        *(o.phone_number_id for o in batch.others),
    ):
        if pnid:
            seen.setdefault(pnid, None)
    return list(seen)


class CredentialCache:
    """Decrypted app secrets per phone_number_id and verify tokens per channel, each rebuilt only
    when its stored (encrypted) value differs from the one it was decrypted from; every check
    still reads the current row, so a rotation or a deleted channel counts at once, in any process."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._secrets: dict[str, tuple[str, str]] = {}  # phone_number_id -> (encrypted, decrypted)
        self._tokens: dict[int, tuple[str, str]] = {}  # channel id -> (encrypted, decrypted)
        self._all_secrets: dict[int, tuple[str, str]] = {}  # channel id -> (encrypted, decrypted)
        self.decryptions = 0  # for tests and benchmarks

    def invalidate(self) -> None:
        """Forget every decrypted value (they are re-validated on each use anyway)."""
        with self._lock:
            self._secrets.clear()
            self._tokens.clear()
            self._all_secrets.clear()

    def _decrypt(self, encrypted: str) -> str:
        self.decryptions += 1
        return self._ctx.box.decrypt(encrypted)

    def app_secret(self, conn: Connection, phone_number_id: str) -> str | None:
        """The current app secret of the channel with this phone_number_id; None: no such channel."""
        encrypted = channel_store.app_secret_encrypted(conn, phone_number_id)
        if encrypted is None:
            with self._lock:
                self._secrets.pop(phone_number_id, None)
            return None
        with self._lock:
            cached = self._secrets.get(phone_number_id)
        if cached is not None and cached[0] == encrypted:
            return cached[1]
        secret = self._decrypt(encrypted)
        with self._lock:
            self._secrets[phone_number_id] = (encrypted, secret)
        return secret

    def verdict(
        self,
        conn: Connection,
        batch: WebhookBatch | None,
        signature: str | None,
        raw: bytes,
        read: dict[str, str | None] | None = None,
    ) -> Verdict:
        """Judge each addressed phone_number_id against its own channel's secret, read in `conn`.
        `read`: the secrets already read in this transaction, by number (the apply queue judges a
        batch of bodies in one transaction, and reads each number's row once for all of them)."""
        if batch is None:
            return Verdict()  # unreadable: it addresses no channel that could vouch for it
        verified: set[str] = set()
        refused: set[str] = set()
        unroutable: set[str] = set()
        matches: dict[str, bool] = {}  # one HMAC per distinct secret, however many numbers share it
        for pnid in addressed(batch):
            if read is None:
                secret = self.app_secret(conn, pnid)
            elif pnid in read:
                secret = read[pnid]
            else:
                secret = read[pnid] = self.app_secret(conn, pnid)
            if secret is None:
                unroutable.add(pnid)
                continue
            if secret not in matches:
                matches[secret] = signature_matches(secret, raw, signature)
            (verified if matches[secret] else refused).add(pnid)
        account_level = (
            not verified
            and not refused
            and not unroutable
            and has_account_level_changes(batch)
            and self._any_secret_signs(conn, raw, signature)
        )
        return Verdict(frozenset(verified), frozenset(refused), frozenset(unroutable), account_level=account_level)

    def _any_secret_signs(self, conn: Connection, raw: bytes, signature: str | None) -> bool:
        self._all_secrets = self._decrypted(channel_store.app_secrets_encrypted(conn), self._all_secrets)
        return any(signature_matches(s, raw, signature) for s in {s for _, s in self._all_secrets.values()})

    def _decrypted(self, rows: list[tuple[int, str]], known: dict[int, tuple[str, str]]) -> dict[int, tuple[str, str]]:
        """`rows` (id, encrypted) decrypted, reusing what `known` decrypted from the same value."""
        fresh: dict[int, tuple[str, str]] = {}
        for channel_id, encrypted in rows:
            cached = known.get(channel_id)
            fresh[channel_id] = (
                cached
                if cached is not None and cached[0] == encrypted
                else (
                    encrypted,
                    self._decrypt(encrypted),
                )
            )
        return fresh

    def challenge(self, params: Mapping[str, str]) -> str | None:
        with self._ctx.db.read() as conn:
            rows = channel_store.verify_tokens_encrypted(conn)
        with self._lock:
            known = self._tokens
        fresh = self._decrypted(rows, known)
        with self._lock:
            self._tokens = fresh  # deleted channels drop out
        return verify_challenge(params, [token for _, token in fresh.values()])


def parse_or_none(raw: bytes) -> WebhookBatch | None:
    try:
        return parse_webhook(raw)
    except PayloadError:
        return None
