"""Channel use cases: create a channel, save its policy (R11)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from wasession.config import GRAPH_VERSION
from wasession.domain import transitions
from wasession.domain.events import EventType
from wasession.domain.policy import Policy, validate_policy
from wasession.lifecycle import session_writes
from wasession.lifecycle.context import ServiceContext
from wasession.services import fast_clock, policy_impact
from wasession.services.errors import ConflictError, NotFoundError, UpstreamError, ValidationError
from wasession.store import channels as channel_store
from wasession.store import sessions as session_store
from wasession.store.channels import Channel as Channel  # re-exported for the faces
from wasession.store.channels import ChannelEdit, ChannelSecrets, edit_channel
from wasession.store.db import Connection
from wasession.whatsapp.errors import AuthError, CloudApiError, RequestNotSentError

# Only the type: the client is httpx, which admin commands that never call the Graph API (`users
# list`, ...) should not import at start through this module; the caller that checks a token builds one.
if TYPE_CHECKING:
    from wasession.whatsapp.client import CloudClient, PhoneNumberInfo

DEFAULT_WORKSPACE = "default"
SETTINGS_SAVED = "Settings saved successfully"
REPLAN_BATCH = 1000
DEFAULT_MAX_CHANNELS_PER_WORKSPACE = 100  # Settings.max_channels_per_workspace


@dataclass(frozen=True)
class NewChannel:
    name: str
    phone_number_id: str
    access_token: str
    app_secret: str
    verify_token: str
    display_phone_number: str = ""
    sandbox: bool = False
    graph_base_url: str | None = None
    graph_version: str | None = None
    rate_limit_per_second: int = 80


def default_workspace(ctx: ServiceContext) -> int:
    with ctx.db.write() as conn:
        return channel_store.ensure_workspace(conn, DEFAULT_WORKSPACE, ctx.clock.now())


def check_new_channel(
    ctx: ServiceContext,
    new: NewChannel,
    policy: Mapping[str, object] | None = None,
    *,
    workspace_id: int | None = None,
    max_channels: int = DEFAULT_MAX_CHANNELS_PER_WORKSPACE,
) -> None:
    """What `create_channel` would refuse, without writing: for a face that must ask Meta before creating."""
    _validate(new, policy)
    ws = workspace_id if workspace_id is not None else default_workspace(ctx)
    with ctx.db.read() as conn:
        _check_claim(conn, new.phone_number_id, ws, max_channels)
        if not new.sandbox:
            fast_clock.refuse_real_channel(conn)


def create_channel(
    ctx: ServiceContext,
    new: NewChannel,
    policy: Mapping[str, object] | None = None,
    *,
    workspace_id: int | None = None,
    max_channels: int = DEFAULT_MAX_CHANNELS_PER_WORKSPACE,
) -> Channel:
    """A phone_number_id belongs to the first workspace that claims it: the channel's app secret
    vouches for the webhooks of that number, so no other workspace may claim it too."""
    validated = _validate(new, policy)
    ws = workspace_id if workspace_id is not None else default_workspace(ctx)
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        _check_claim(conn, new.phone_number_id, ws, max_channels)
        if not new.sandbox:
            fast_clock.refuse_real_channel(conn)
        channel_id = channel_store.insert_channel(
            conn,
            ctx.box,
            workspace_id=ws,
            name=new.name.strip(),
            phone_number_id=new.phone_number_id,
            secrets=ChannelSecrets(new.access_token, new.app_secret, new.verify_token),
            policy=validated,
            now=now,
            display_phone_number=new.display_phone_number,
            sandbox=new.sandbox,
            graph_base_url=new.graph_base_url,
            graph_version=new.graph_version,
            rate_limit_per_second=new.rate_limit_per_second,
        )
        channel = channel_store.get(conn, channel_id)
        assert channel is not None
        session_writes.record(conn, channel, None, EventType.CHANNEL_CREATED, now, name=channel.name)
    return channel


def add_channel(
    ctx: ServiceContext,
    graph: CloudClient | None,
    new: NewChannel,
    policy: Mapping[str, object] | None = None,
    *,
    workspace_id: int | None = None,
    max_channels: int = DEFAULT_MAX_CHANNELS_PER_WORKSPACE,
) -> Channel:
    """Adding a channel, the one path of `POST /api/v1/channels` and `wasession channels add`: the cheap
    refusals first, then Meta is asked with the channel's own token whether it may act for the number
    (`verify_with_graph`), then the write. `graph` None skips Meta: only the operator's explicit
    `channels add --skip-token-check` (offline set-ups) passes it. Nothing is written when refused."""
    check_new_channel(ctx, new, policy, workspace_id=workspace_id, max_channels=max_channels)
    if graph is not None:
        found = verify_with_graph(graph, new.phone_number_id, new.access_token)
        if not new.display_phone_number and found.display_phone_number:
            new = dataclasses.replace(new, display_phone_number=found.display_phone_number)
    return create_channel(ctx, new, policy, workspace_id=workspace_id, max_channels=max_channels)


def _validate(new: NewChannel, policy: Mapping[str, object] | None) -> Policy:
    for field_name in ("name", "phone_number_id", "access_token", "app_secret", "verify_token"):
        if not str(getattr(new, field_name)).strip():
            raise ValidationError(field_name, f"{field_name} is required and may not be empty", code="required")
    if not (new.phone_number_id.isascii() and new.phone_number_id.isdigit()):  # str.isdigit takes ١٢٣ too
        raise ValidationError(
            "phone_number_id",
            "phone_number_id must be the numeric id Meta shows for the number, in ASCII digits; "
            f"got {new.phone_number_id[:64]!r}",
        )
    if not 1 <= new.rate_limit_per_second <= 1000:
        raise ValidationError(
            "rate_limit_per_second",
            f"rate_limit_per_second must be from 1 to 1000; got {new.rate_limit_per_second}",
            code="out_of_range",
        )
    if new.graph_version is not None and not GRAPH_VERSION.fullmatch(new.graph_version):
        raise ValidationError("graph_version", f"graph_version must look like v25.0; got {new.graph_version[:20]!r}")
    if new.graph_base_url is not None:
        parts = urlsplit(new.graph_base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise ValidationError(
                "graph_base_url", f"graph_base_url must be an http(s) URL with a host; got {new.graph_base_url[:100]!r}"
            )
    return validate_policy(policy or {})


def _check_claim(conn: Connection, phone_number_id: str, workspace_id: int, max_channels: int) -> None:
    holder = channel_store.by_phone_number_id(conn, phone_number_id)
    if holder is not None and holder.workspace_id != workspace_id:
        raise ConflictError(
            f"phone_number_id {phone_number_id} is already claimed by another workspace",
            field="phone_number_id",
        )
    if holder is not None:
        raise ConflictError(
            f"a channel with phone_number_id {phone_number_id} already exists",
            code="duplicate",
            field="phone_number_id",
        )
    if channel_store.count_in_workspace(conn, workspace_id) >= max_channels:
        raise ConflictError(
            f"this workspace already has {max_channels} channels, the most WASESSION_MAX_CHANNELS_PER_WORKSPACE allows",
            code="quota_exceeded",
        )


def random_token(nbytes: int = 24) -> str:
    return secrets.token_urlsafe(nbytes)


def get_channel(ctx: ServiceContext, channel_id: int, *, workspace_id: int | None = None) -> Channel:
    with ctx.db.read() as conn:
        channel = channel_store.get(conn, channel_id)
    if channel is None or (workspace_id is not None and channel.workspace_id != workspace_id):
        raise NotFoundError("channel", channel_id)
    return channel


def save_policy(
    ctx: ServiceContext, channel_id: int, changes: Mapping[str, object], *, workspace_id: int | None = None
) -> Policy:
    """Validate and store a policy, then re-plan every active session of the channel (R11).

    Validation happens before anything is written, so a refused change leaves the stored policy and
    every session exactly as they were.
    """
    channel = get_channel(ctx, channel_id, workspace_id=workspace_id)
    policy = policy_impact.checked_policy(changes, channel.policy)
    now = ctx.clock.now()
    with ctx.db.write() as conn:
        channel_store.save_policy(conn, channel_id, policy, now)
        after_id = 0
        while True:
            batch = session_store.active_ids_in_channel(conn, channel_id, after_id=after_id, limit=REPLAN_BATCH)
            if not batch:
                break
            writes = session_writes.SessionWrites()
            for session in batch:
                state = session_writes.state_of(session)
                change = transitions.policy_changed(state, policy=policy, now=now)
                change = policy_impact.noted(change, policy_impact.move_of(session.id, state, change, now), now)
                writes.apply(conn, channel, session.id, change)
            writes.flush(conn)
            after_id = batch[-1].id
        session_writes.record(conn, channel, None, EventType.POLICY_CHANGED, now, policy=policy.to_public())
    ctx.wake()
    return policy


# -- credentials rotation (issue 3) ---------------------------------------------------------------


def update_credentials(
    ctx: ServiceContext,
    channel_id: int,
    *,
    access_token: str | None = None,
    app_secret: str | None = None,
    verify_token: str | None = None,
    workspace_id: int | None = None,
) -> Channel:
    """Replace some of a channel's credentials. A sending pause caused by a refused token is
    lifted, and the messages it held go out on the sender's next pass (ADR 0005)."""
    given = {"access_token": access_token, "app_secret": app_secret, "verify_token": verify_token}
    if all(v is None for v in given.values()):
        raise ValidationError("access_token", "give at least one of access_token, app_secret, verify_token")
    for name, value in given.items():
        if value is not None and not value.strip():
            raise ValidationError(name, f"{name} may not be empty", code="required")
    channel = get_channel(ctx, channel_id, workspace_id=workspace_id)
    now = ctx.clock.now()
    values: ChannelEdit = {}
    if access_token is not None:
        values["access_token_enc"] = ctx.box.encrypt(access_token)
    if app_secret is not None:
        values["app_secret_enc"] = ctx.box.encrypt(app_secret)
    if verify_token is not None:
        values["verify_token_enc"] = ctx.box.encrypt(verify_token)
    resumed = access_token is not None and channel.sending_paused_reason is not None
    if resumed:
        values["sending_paused_reason"] = None
    with ctx.db.write() as conn:
        edit_channel(conn, channel_id, **values)
        changed = sorted(k for k, v in given.items() if v is not None)
        session_writes.record(conn, channel, None, EventType.CHANNEL_CREDENTIALS_UPDATED, now, changed=changed)
        if resumed:
            session_writes.record(
                conn, channel, None, EventType.CHANNEL_RESUMED, now, paused_reason=channel.sending_paused_reason
            )
        updated = channel_store.get(conn, channel_id)
    assert updated is not None
    ctx.wake()
    return updated


def list_channels(ctx: ServiceContext, *, workspace_id: int | None = None) -> list[Channel]:
    """The channels of a workspace (all of them with None), by id."""
    with ctx.db.read() as conn:
        return channel_store.list_all(conn, workspace_id)


def verify_with_graph(client: CloudClient, phone_number_id: str, access_token: str) -> PhoneNumberInfo:
    """Ask Graph, with the channel's own token, whether it may act for `phone_number_id`: a tenant cannot
    claim a number it does not hold (docs/security.md). Refused with the field to fix, or UpstreamError."""
    try:
        return client.phone_number(phone_number_id, access_token)
    except RequestNotSentError as exc:
        raise UpstreamError(f"could not reach Meta's Graph API to verify the channel; try again ({exc})") from exc
    except AuthError as exc:
        raise ValidationError(
            "access_token", f"Meta refused this access token for phone number id {phone_number_id} ({exc})"
        ) from exc
    except CloudApiError as exc:
        if exc.http_status is not None and exc.http_status >= 500:
            raise UpstreamError(f"Meta's Graph API failed to verify the channel; try again ({exc})") from exc
        raise ValidationError(
            "phone_number_id", f"Meta knows no phone number id {phone_number_id} this access token may use ({exc})"
        ) from exc
