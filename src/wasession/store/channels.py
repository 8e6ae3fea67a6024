"""Channel rows: one WhatsApp Business phone number with its credentials and session policy."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from sqlalchemy import Connection, RowMapping, bindparam, delete, func, insert, select, update
from typing_extensions import Unpack

from wasession.domain.policy import Policy, policy_from_storage, policy_to_storage
from wasession.store import secrets_version
from wasession.store.schema import channels, template_sources, workspaces
from wasession.store.secrets import SecretBox

T = TypeVar("T")


@dataclass(frozen=True)
class Channel:
    id: int
    workspace_id: int
    name: str
    phone_number_id: str
    display_phone_number: str
    sandbox: bool
    graph_base_url: str | None
    graph_version: str | None
    rate_limit_per_second: int
    policy: Policy
    policy_updated_at: datetime
    sending_paused_reason: str | None
    created_at: datetime


@dataclass(frozen=True)
class ChannelSecrets:
    access_token: str
    app_secret: str
    verify_token: str

    def __repr__(self) -> str:  # never print credentials, even in a traceback
        return "ChannelSecrets(<hidden>)"


_PUBLIC_COLUMNS = [c for c in channels.c if not c.name.endswith("_enc")]
# Built once: ingest looks the channel up for every webhook (issue 6).
_APP_SECRET_ENC = select(channels.c.app_secret_enc).where(channels.c.phone_number_id == bindparam("b_phone_number_id"))
_APP_SECRETS_ENC = select(channels.c.id, channels.c.app_secret_enc).order_by(channels.c.id)
_VERIFY_TOKENS_ENC = select(channels.c.id, channels.c.verify_token_enc).order_by(channels.c.id)
_BY_PHONE_NUMBER_ID = select(*_PUBLIC_COLUMNS).where(channels.c.phone_number_id == bindparam("b_phone_number_id"))
_BY_ID = select(*_PUBLIC_COLUMNS).where(channels.c.id == bindparam("b_id"))
_SECRETS_BY_ID = select(channels.c.access_token_enc, channels.c.app_secret_enc, channels.c.verify_token_enc).where(
    channels.c.id == bindparam("b_id")
)


def _channel_of_row(row: Any) -> Channel:
    return _row_to_channel(row._mapping)


def _row_to_channel(row: RowMapping | Mapping[str, Any]) -> Channel:
    values = {k: row[k] for k in Channel.__dataclass_fields__ if k != "policy"}
    return Channel(policy=policy_from_storage(row["policy"]), **values)


def ensure_workspace(conn: Connection, name: str, now: datetime) -> int:
    existing = conn.execute(select(workspaces.c.id).where(workspaces.c.name == name)).scalar()
    if existing is not None:
        return int(existing)
    return int(conn.execute(insert(workspaces).values(name=name, created_at=now)).inserted_primary_key[0])  # type: ignore[index]


def insert_channel(
    conn: Connection,
    box: SecretBox,
    *,
    workspace_id: int,
    name: str,
    phone_number_id: str,
    secrets: ChannelSecrets,
    policy: Policy,
    now: datetime,
    display_phone_number: str = "",
    sandbox: bool = False,
    graph_base_url: str | None = None,
    graph_version: str | None = None,
    rate_limit_per_second: int = 80,
) -> int:
    result = conn.execute(
        insert(channels).values(
            workspace_id=workspace_id,
            name=name,
            phone_number_id=phone_number_id,
            display_phone_number=display_phone_number,
            access_token_enc=box.encrypt(secrets.access_token),
            app_secret_enc=box.encrypt(secrets.app_secret),
            verify_token_enc=box.encrypt(secrets.verify_token),
            sandbox=sandbox,
            graph_base_url=graph_base_url,
            graph_version=graph_version,
            rate_limit_per_second=rate_limit_per_second,
            policy=policy_to_storage(policy),
            policy_updated_at=now,
            created_at=now,
        )
    )
    secrets_version.bump(conn)
    return int(result.inserted_primary_key[0])  # type: ignore[index]


def get(conn: Connection, channel_id: int) -> Channel | None:
    row = conn.execute(_BY_ID, {"b_id": channel_id}).mappings().first()
    return _row_to_channel(row) if row else None


def by_phone_number_id(conn: Connection, phone_number_id: str) -> Channel | None:
    row = conn.execute(_BY_PHONE_NUMBER_ID, {"b_phone_number_id": phone_number_id}).mappings().first()
    return _row_to_channel(row) if row else None


class ChannelCache:
    """Channels by phone_number_id (ingest) or id (the sender), always current.

    Every lookup still reads the channel's row (one indexed read inside the caller's transaction,
    so a change committed by any process or service is seen by the very next lookup), but the
    `Channel` — its policy parsed and validated, the costly part — is rebuilt only when the row
    differs from the one it was built from; the same for its secrets, decrypted again only when
    their stored form changed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._built: dict[tuple[str, object], tuple[tuple[Any, ...], Any]] = {}
        self.rebuilds = 0  # for tests: how often a Channel was built from its row

    def by_phone_number_id(self, conn: Connection, phone_number_id: str) -> Channel | None:
        row = conn.execute(_BY_PHONE_NUMBER_ID, {"b_phone_number_id": phone_number_id}).first()
        return self._current(("phone_number_id", phone_number_id), row, _channel_of_row)

    def by_id(self, conn: Connection, channel_id: int) -> Channel | None:
        row = conn.execute(_BY_ID, {"b_id": channel_id}).first()
        return self._current(("id", channel_id), row, _channel_of_row)

    def secrets_of(self, conn: Connection, box: SecretBox, channel_id: int) -> ChannelSecrets:
        row = conn.execute(_SECRETS_BY_ID, {"b_id": channel_id}).one()
        secrets = self._current(("secrets", channel_id), row, lambda r: _decrypted(box, r))
        assert secrets is not None  # .one(): the row exists
        return secrets

    def _current(self, key: tuple[str, object], row: Any, build: Callable[[Any], T]) -> T | None:
        if row is None:
            with self._lock:
                self._built.pop(key, None)
            return None
        stored = tuple(row)
        with self._lock:
            built = self._built.get(key)
        if built is not None and built[0] == stored:
            found: T = built[1]  # stored under this key by the same `build`
            return found
        value = build(row)
        with self._lock:
            self._built[key] = (stored, value)
            self.rebuilds += 1
        return value


def list_all(conn: Connection, workspace_id: int | None = None) -> list[Channel]:
    query = select(*_PUBLIC_COLUMNS).order_by(channels.c.id)
    if workspace_id is not None:
        query = query.where(channels.c.workspace_id == workspace_id)
    return [_row_to_channel(r) for r in conn.execute(query).mappings()]


def secrets_of(conn: Connection, box: SecretBox, channel_id: int) -> ChannelSecrets:
    return _decrypted(box, conn.execute(_SECRETS_BY_ID, {"b_id": channel_id}).one())


def _decrypted(box: SecretBox, row: Any) -> ChannelSecrets:
    return ChannelSecrets(box.decrypt(row[0]), box.decrypt(row[1]), box.decrypt(row[2]))


def app_secret_encrypted(conn: Connection, phone_number_id: str) -> str | None:
    """The app secret of the channel with this phone_number_id, as stored (encrypted): the row's
    current version, cheap to compare with an earlier read before decrypting again."""
    found = conn.execute(_APP_SECRET_ENC, {"b_phone_number_id": phone_number_id}).scalar()
    return str(found) if found is not None else None


def app_secrets_encrypted(conn: Connection) -> list[tuple[int, str]]:
    """(channel id, app secret as stored) of every channel."""
    return [(int(r[0]), str(r[1])) for r in conn.execute(_APP_SECRETS_ENC)]


def signing_rows(conn: Connection) -> list[tuple[str, int, str, str | None]]:
    """(phone_number_id, workspace id, app secret as stored, business account id or None) of every
    channel: what the webhook ack needs to find the secret that signed a body."""
    query = select(
        channels.c.phone_number_id, channels.c.workspace_id, channels.c.app_secret_enc, template_sources.c.waba_id
    ).outerjoin(template_sources, template_sources.c.channel_id == channels.c.id)
    return [(str(r[0]), int(r[1]), str(r[2]), r[3]) for r in conn.execute(query)]


def verify_tokens_encrypted(conn: Connection) -> list[tuple[int, str]]:
    """(channel id, verify token as stored) of every channel, for the webhook handshake."""
    return [(int(r[0]), str(r[1])) for r in conn.execute(_VERIFY_TOKENS_ENC)]


def count_in_workspace(conn: Connection, workspace_id: int) -> int:
    query = select(func.count()).select_from(channels).where(channels.c.workspace_id == workspace_id)
    return int(conn.execute(query).scalar() or 0)


def save_policy(conn: Connection, channel_id: int, policy: Policy, now: datetime) -> None:
    conn.execute(
        update(channels)
        .where(channels.c.id == channel_id)
        .values(policy=policy_to_storage(policy), policy_updated_at=now)
    )


def set_paused(conn: Connection, channel_id: int, reason: str | None) -> None:
    conn.execute(update(channels).where(channels.c.id == channel_id).values(sending_paused_reason=reason))


# Channel edits the services make after creation: renames, limits, rotated credentials, deletion.
class ChannelEdit(TypedDict, total=False):
    name: str
    display_phone_number: str
    rate_limit_per_second: int
    access_token_enc: str  # credentials arrive encrypted by the secret box
    app_secret_enc: str
    verify_token_enc: str
    sending_paused_reason: str | None


def edit_channel(conn: Connection, channel_id: int, **values: Unpack[ChannelEdit]) -> None:
    conn.execute(update(channels).where(channels.c.id == channel_id).values(**values))
    if "app_secret_enc" in values:
        secrets_version.bump(conn)


def delete_channel(conn: Connection, channel_id: int) -> None:
    """The channel and, through cascading foreign keys, its sessions, transcripts and events."""
    conn.execute(delete(channels).where(channels.c.id == channel_id))
    secrets_version.bump(conn)
