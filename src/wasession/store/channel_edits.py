"""Channel edits the services make after creation: renames, limits, rotated credentials, deletion."""

from __future__ import annotations

from typing import TypedDict

from sqlalchemy import delete, update
from typing_extensions import Unpack

from wasession.store import secrets_version
from wasession.store.db import Connection
from wasession.store.schema import channels


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
