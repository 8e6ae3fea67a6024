"""What the webhook ack lets into the log: a body every change of which the signature vouches for.

The ack answers 200 only for bytes it may keep, and keeps only what applying them would accept, so
nothing a stranger sends is ever stored for the relay, the apply or an admin to trip over later:

1. The numbers the body names (`"phone_number_id":"…"`) are found with one regular expression, not a
   parse. More than `max_numbers` distinct ones (Meta's own bodies name one) is a 422, and so is a
   number that is not ASCII digits, before any HMAC.
2. The signature is checked with one HMAC per distinct app secret, at most: first the secrets of the
   channels of those numbers; when a number is one no channel has (or none is named: account-level
   changes), the secrets of channels recording a business account id the body names (`entry[].id`),
   then every distinct app secret we hold (one per Meta app), if there are at most
   `unrouted_secrets` of them. No secret signs: 403. So the cost of a forgery grows with the number
   of Meta apps, never of channels, and a body naming 100 numbers costs nothing.
3. Only then the body is parsed, with a bound on its nesting (`whatsapp/bounded_json.py`): a body
   that does not parse as a webhook is a 400 (signed bytes that are not Meta's: a retry would change
   nothing).
4. Every change's number must be vouched for by the secret that signed: a channel's number whose
   secret is that one, or a number no channel has (unrouted: 200, kept in the log, counted and
   listed for the workspaces holding that secret so the operator adds the channel). A change for a
   number whose channel holds another secret refuses the whole body (403).

The decrypted secrets are kept in memory, and read again whenever a one-row counter moves
(`store/secrets_version.py`): a rotated secret stops verifying at the next body in every process.
The event loop judges a small body against the secrets in memory without reading the counter; the
ack's writer reads it once per group commit, after every body of the group arrived and before any
is logged, and judges again, against the secrets as they are now, each body judged under an older
version (`GroupCommit`, `Refused`). A refusal is never answered from stale secrets: it reads the
counter first. Applying judges every change again against the rows as stored then
(`credentials.py`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field

from wasession.lifecycle.context import ServiceContext
from wasession.observability import metrics
from wasession.store import channels as channel_store
from wasession.store import secrets_version, unrouted
from wasession.store.secrets_version import VersionReader
from wasession.whatsapp.bounded_json import JsonRefused, loads_bounded
from wasession.whatsapp.payload import PayloadError, numbers_named
from wasession.whatsapp.signature import signature_matches

log = logging.getLogger(__name__)

DEFAULT_MAX_NUMBERS = 10  # Settings.webhook_max_numbers
DEFAULT_UNROUTED_SECRETS = 8  # Settings.webhook_unrouted_secrets
# Bodies up to this size are judged on the event loop (a parse and an HMAC of 64 KiB take well under
# a millisecond); larger ones in a worker thread, so a 3 MB body never holds the loop.
INLINE_BYTES = 64 * 1024
# An unrouted number's row is written at most this often per process; bodies between are added then.
UNROUTED_WRITE_EVERY = 10.0

_PHONE_NUMBER_ID = re.compile(rb'"phone_number_id"\s*:\s*"([^"\\]{0,64})"')
_ENTRY_ID = re.compile(rb'"id"\s*:\s*"([0-9]{1,32})"')

SIGNATURE_INVALID = "the signature does not match the body under the app secret of any channel its changes address"


@dataclass(frozen=True)
class Decision:
    """The ack's answer for one body: 200 (log it) or a refusal with its code and message.
    `unrouted`: numbers no channel has, vouched for by the secret of `owners` (workspace ids)."""

    status: int
    code: str = ""
    message: str = ""
    unrouted: tuple[str, ...] = ()
    owners: frozenset[int] = frozenset()
    version: int | None = None  # accepted: the secrets version judged under, checked again before logging

    @property
    def accepted(self) -> bool:
        return self.status == 200


_FORGED = Decision(403, "signature_invalid", SIGNATURE_INVALID)


class Refused(Exception):
    """A body judged under an older secrets version, refused when judged again before logging."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision


@dataclass
class _Secrets:
    """Every channel's app secret, decrypted, as of one secrets version."""

    version: int
    accepted: Decision  # Decision(200) carrying this version
    by_number: dict[str, str] = field(default_factory=dict)
    owners: dict[str, frozenset[int]] = field(default_factory=dict)  # secret -> workspaces holding it
    by_account: dict[str, tuple[str, ...]] = field(default_factory=dict)  # business account id -> secrets


class AckGate:
    def __init__(
        self,
        ctx: ServiceContext,
        *,
        max_numbers: int = DEFAULT_MAX_NUMBERS,
        unrouted_secrets: int = DEFAULT_UNROUTED_SECRETS,
    ) -> None:
        self._ctx = ctx
        self.max_numbers = max_numbers
        self.unrouted_secrets = unrouted_secrets
        self._version = VersionReader(ctx.db)
        self._lock = threading.Lock()
        self._secrets: _Secrets | None = None
        self._decrypted: dict[str, str] = {}  # encrypted -> decrypted, across versions
        self._unrouted_written: dict[tuple[int, str], float] = {}
        self._unrouted_pending: dict[tuple[int, str], int] = {}
        self.hmacs = 0  # for tests and benchmarks: HMACs computed over a body
        self.loads = 0  # for tests: how often the secrets were read and decrypted

    # -- entry points --------------------------------------------------------------------------------

    def quick(self, raw: bytes, signature: str) -> Decision | None:
        """`judge` when it is cheap enough for the event loop (a small body, secrets in memory,
        nothing to record); None: call `judge` in a worker thread. An acceptance is judged against
        the secrets in memory, maybe stale: its `version` must be checked before the body is logged
        (`still_valid`). A refusal is answered only if those secrets are current (on SQLite, where
        reading the counter is cheap)."""
        if len(raw) > INLINE_BYTES:
            return None
        secrets = self._secrets
        if secrets is None:
            return None
        decision = self._decide(raw, signature, secrets)
        if decision.unrouted:
            return None
        if decision.accepted or (self._version.cheap and secrets.version == self._version.read()):
            return decision
        return None

    def version(self) -> int:
        """The secrets version as stored now (one row, read in the calling thread)."""
        return self._version.read()

    def judge(self, raw: bytes, signature: str) -> Decision:
        """The whole check, reading the secrets again if they changed; records unrouted numbers."""
        decision = self._decide(raw, signature, self._current())
        if decision.unrouted:
            self._record_unrouted(decision)
        return decision

    def close(self) -> None:
        self._version.close()

    # -- the check -----------------------------------------------------------------------------------

    def _decide(self, raw: bytes, signature: str, secrets: _Secrets) -> Decision:
        named: dict[str, None] = {}
        for match in _PHONE_NUMBER_ID.finditer(raw):
            named.setdefault(match.group(1).decode("utf-8", "replace"), None)
            if len(named) > self.max_numbers:
                return self._too_many()
        for number in named:
            if not _digits(number):
                return _bad_number(number)
        signer = self._signer(raw, signature, list(named), secrets)
        if signer is None:
            return _FORGED
        try:
            numbers, numberless = numbers_named(loads_bounded(raw))
        except (JsonRefused, PayloadError) as exc:
            return Decision(400, "invalid_body", f"the body is signed but is not a webhook: {exc}")
        if len(numbers) > self.max_numbers:
            return self._too_many()
        verified = False
        lost: list[str] = []
        for number in numbers:
            if not _digits(number):
                return _bad_number(number)
            held = secrets.by_number.get(number)
            if held is None:
                lost.append(number)
            elif held == signer:
                verified = True
            else:
                return _FORGED  # another channel's change: its own secret must sign it
        if not verified and not lost and not numberless:
            return _FORGED  # nothing in it the signature vouches for
        if lost:
            owners = secrets.owners.get(signer, frozenset())
            return Decision(200, unrouted=tuple(lost), owners=owners, version=secrets.version)
        return secrets.accepted

    def _signer(self, raw: bytes, signature: str, named: list[str], secrets: _Secrets) -> str | None:
        """The secret whose HMAC of `raw` is `signature`: one HMAC per distinct secret at most."""
        tried: set[str] = set()

        def signs(secret: str) -> bool:
            if secret in tried:
                return False
            tried.add(secret)
            self.hmacs += 1
            return signature_matches(secret, raw, signature)

        unknown = not named
        for number in named:
            held = secrets.by_number.get(number)
            if held is None:
                unknown = True
            elif signs(held):
                return held
        if not unknown:
            return None  # every number named has a channel, and none of their secrets signs
        accounts: set[bytes] = set()
        for match in _ENTRY_ID.finditer(raw):  # ids of all kinds; only a recorded business account's counts
            account = match.group(1)
            if account in accounts:
                continue
            accounts.add(account)
            for secret in secrets.by_account.get(account.decode("ascii"), ()):
                if signs(secret):
                    return secret
            if len(accounts) >= self.max_numbers * 4:
                break
        if len(secrets.owners) <= self.unrouted_secrets:
            for secret in secrets.owners:
                if signs(secret):
                    return secret
        return None

    def _too_many(self) -> Decision:
        return Decision(
            422,
            "too_many_numbers",
            f"a webhook body may name at most {self.max_numbers} phone_number_ids (WASESSION_WEBHOOK_MAX_NUMBERS)",
        )

    # -- the secrets ---------------------------------------------------------------------------------

    def _current(self) -> _Secrets:
        version = self._version.read()
        secrets = self._secrets
        if secrets is not None and secrets.version == version:
            return secrets
        with self._lock:
            if self._secrets is not None and self._secrets.version == version:
                return self._secrets
            with self._ctx.db.read() as conn:
                version = secrets_version.current(conn)  # read with the rows, so they match
                rows = channel_store.signing_rows(conn)
            fresh = _Secrets(version, Decision(200, version=version))
            owners: dict[str, set[int]] = {}
            accounts: dict[str, dict[str, None]] = {}
            decrypted: dict[str, str] = {}
            for number, workspace_id, encrypted, account in rows:
                secret = self._decrypted.get(encrypted) or self._ctx.box.decrypt(encrypted)
                decrypted[encrypted] = secret
                fresh.by_number[number] = secret
                owners.setdefault(secret, set()).add(workspace_id)
                if account:
                    accounts.setdefault(account, {})[secret] = None
            fresh.owners = {secret: frozenset(ws) for secret, ws in owners.items()}
            fresh.by_account = {account: tuple(found) for account, found in accounts.items()}
            self._decrypted = decrypted  # what a deleted channel held is forgotten
            self._secrets = fresh
            self.loads += 1
            return fresh

    # -- unrouted numbers ----------------------------------------------------------------------------

    def _record_unrouted(self, decision: Decision) -> None:
        metrics.WEBHOOKS_UNROUTED.inc()
        now = time.monotonic()
        due: dict[int, list[tuple[str, int]]] = {}
        with self._lock:
            for workspace_id in decision.owners:
                for number in decision.unrouted:
                    key = (workspace_id, number)
                    pending = self._unrouted_pending.pop(key, 0) + 1
                    if now - self._unrouted_written.get(key, float("-inf")) < UNROUTED_WRITE_EVERY:
                        self._unrouted_pending[key] = pending
                        continue
                    self._unrouted_written[key] = now
                    due.setdefault(workspace_id, []).append((number, pending))
        if not due:
            return
        log.warning(
            "webhook for phone_number_id %s, which no channel has, signed by an app secret of workspace %s: "
            "add the channel",
            ", ".join(decision.unrouted),
            ", ".join(str(w) for w in sorted(decision.owners)),
        )
        at = self._ctx.clock.now()
        with self._ctx.db.write() as conn:
            for workspace_id, numbers in due.items():
                for number, bodies in numbers:
                    unrouted.record(conn, [workspace_id], [number], at, bodies)


def _digits(number: str) -> bool:
    return number.isascii() and number.isdigit()


def _bad_number(number: str) -> Decision:
    return Decision(
        422, "invalid_phone_number_id", f"phone_number_id must be ASCII digits, as Meta sends it; got {number[:64]!r}"
    )
