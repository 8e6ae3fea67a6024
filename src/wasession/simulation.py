"""Simulator: the real service on a manual clock, a temporary SQLite file and the fake Cloud API.

Customer messages go through the real webhook endpoint as signed Cloud API bodies; reminders go out
through the real sender to the fake over HTTP semantics (ASGI, no sockets); the fake's status
webhooks come back signed through the same endpoint. `advance` moves the clock from one due
action to the next, so every reminder and closure happens at its exact time and in order.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

with warnings.catch_warnings():
    # Starlette 1.x nudges towards httpx2; its TestClient works unchanged with httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from wasession.config import Settings
from wasession.domain.clock import ManualClock, parse_instant
from wasession.domain.durations import parse_duration
from wasession.domain.plan import is_held, is_snoozed
from wasession.runtime import reads
from wasession.runtime.core import new_secret_key
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber
from wasession.services import agents
from wasession.services import channels as channel_service
from wasession.services import snooze as snooze_service
from wasession.services import usage as usage_service
from wasession.services.channels import Channel, NewChannel
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign

MAX_STEPS_PER_ADVANCE = 1_000_000


@dataclass(frozen=True)
class OutboxMessage:
    to: str | None
    recipient: str | None
    body: str | None
    sent_at: datetime
    wamid: str
    type: str
    callback_data: str | None


@dataclass(frozen=True)
class SessionView:
    id: int
    status: str
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    last_customer_message_at: datetime
    eligible: bool
    eligible_at: datetime
    closes_at: datetime
    window_closes_at: datetime
    reminder_state: str
    reminder_due_at: datetime | None
    reminder_reason: str | None
    awaiting: str
    reminder_step: int = 1  # the ladder step reminder_state and reminder_due_at are about
    snoozed_until: datetime | None = None  # the snooze's end while snoozed (None otherwise)
    held: bool = False  # hold_while_awaiting_agent keeps it open until an agent replies


@dataclass(frozen=True)
class EventView:
    """One entry of a session's timeline (or an admin event), as the API's timeline shows it."""

    id: int
    type: str
    at: datetime
    channel_id: int | None
    session_id: int | None
    data: Mapping[str, Any]


@dataclass(frozen=True)
class MessageView:
    """One message of a transcript, in or out, with its delivery state."""

    id: int
    session_id: int
    direction: str
    kind: str
    type: str
    body: str | None
    wamid: str | None
    status: str
    sent_at: datetime
    status_at: datetime | None
    error_code: int | None
    error_title: str | None
    error_detail: str | None
    callback_data: str | None
    attempts: int


class Simulator:
    def __init__(
        self,
        start: datetime | str = "2026-01-05T15:00:00Z",
        *,
        database_url: str | None = None,
        status_delays: tuple[timedelta, timedelta] | None = (timedelta(seconds=1), timedelta(seconds=5)),
    ) -> None:
        from wasession.runtime import Runtime
        from wasession.server import create_app

        self.clock = ManualClock(parse_instant(start))
        self._tmp = Path(tempfile.mkdtemp(prefix="wasession-sim-"))
        url = database_url or f"sqlite:///{self._tmp / 'sim.sqlite3'}"
        settings = Settings(database_url=url, secret_key=new_secret_key(), sender_concurrency=4)
        self.fake = FakeCloudApi(self.clock, status_delays=status_delays)
        self._graph = TestClient(self.fake.app, base_url="http://graph.fake")
        self.runtime = Runtime(settings, clock=self.clock, http=self._graph)
        self.runtime.attach_fake(self.fake)
        # A 200 means logged (issue 12); in the Simulator the writer applies what it logged before
        # answering, so whoever posts a webhook (over ASGI or a served port) reads its effect at once.
        # False: applied only by `drain` (tests of the apply queue's own timing).
        self.apply_on_ack = True
        self.runtime.ingestor.on_logged = self._after_ack
        self.runtime.migrate()
        self.app = create_app(self.runtime)
        self.client = TestClient(self.app, base_url="http://wasession.test")
        self.app_secret = "sim-app-secret"
        self._next_number = 100000000000001

    # -- lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> Simulator:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()
        self.runtime.stop()
        shutil.rmtree(self._tmp, ignore_errors=True)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    # -- set-up --------------------------------------------------------------------------------------

    def add_channel(
        self,
        *,
        name: str = "Sim channel",
        phone_number_id: str | None = None,
        rate_limit_per_second: int = 80,
        **policy: object,
    ) -> Channel:
        pnid = phone_number_id or str(self._next_number)
        self._next_number += 1
        token = f"sim-token-{pnid}"
        channel = channel_service.create_channel(
            self.runtime.ctx,
            NewChannel(
                name=name,
                phone_number_id=pnid,
                access_token=token,
                app_secret=self.app_secret,
                verify_token=f"sim-verify-{pnid}",
                graph_base_url="http://graph.fake",
                rate_limit_per_second=rate_limit_per_second,
            ),
            policy,
        )
        self.fake.register(FakeNumber(phone_number_id=pnid, access_token=token, app_secret=self.app_secret))
        self.runtime.ingestor.credentials.invalidate()
        return channel

    def add_sandbox_channel(self, *, name: str = "Sandbox", **policy: object) -> Channel:
        """A sandbox channel (as `serve` creates one) sending to this Simulator's fake; `policy` as in
        `add_channel`, the sandbox's own policy when empty."""
        from wasession.services.sandbox import create_sandbox_channel, register_sandbox

        channel = create_sandbox_channel(
            self.runtime.ctx,
            name=name,
            policy=policy or None,
            app_secret=self.app_secret,
            graph_base_url="http://graph.fake",
        )
        register_sandbox(self.runtime.ctx, self.fake, None)
        self.runtime.ingestor.credentials.invalidate()
        return channel

    def meta_number(self, phone_number_id: str, access_token: str, app_secret: str | None = None) -> None:
        """Make the fake Cloud API hold this number for this token, as Meta would for a business that owns
        it, so a channel for it can be added through the API (which asks Graph first)."""
        self.fake.register(FakeNumber(phone_number_id, access_token, app_secret or self.app_secret))

    def update_policy(self, channel: Channel | int, **changes: object) -> None:
        channel_service.save_policy(self.runtime.ctx, _id(channel), changes)

    def channel(self, channel: Channel | int) -> Channel:
        return channel_service.get_channel(self.runtime.ctx, _id(channel))

    # -- the customer's side ---------------------------------------------------------------------------

    def customer_message(
        self,
        channel: Channel | int,
        *,
        wa_id: str | None = None,
        user_id: str | None = None,
        name: str | None = None,
        text: str = "hello",
        at: datetime | str | None = None,
        wamid: str | None = None,
    ) -> httpx.Response:
        ch = self.channel(channel)
        when = parse_instant(at) if at is not None else self.now
        body = text_message_body(
            phone_number_id=ch.phone_number_id,
            wa_id=wa_id,
            user_id=user_id,
            name=name,
            text=text,
            timestamp=when,
            wamid=wamid or new_wamid(),
        )
        response = self.post_webhook(body)
        response.raise_for_status()
        return response

    def post_webhook(
        self, body: bytes | Mapping[str, Any], sign: bool = True, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sent_headers = {"Content-Type": "application/json"}
        if sign:
            sent_headers[SIGNATURE_HEADER] = _sign(self.app_secret, raw)
        sent_headers.update(headers or {})
        response: httpx.Response = self.client.post("/webhooks/whatsapp", content=raw, headers=sent_headers)
        self.drain()
        return response

    # -- the agent's side ------------------------------------------------------------------------------

    def agent_message(
        self, channel: Channel | int, *, wa_id: str | None = None, user_id: str | None = None, text: str = "hi"
    ) -> int:
        """A human agent's free-form reply to the contact's latest session, through the service function
        the API's POST /sessions/{id}/messages calls; returns the message id."""
        return agents.send_text(self.runtime.ctx, self.session(channel, wa_id=wa_id, user_id=user_id).id, text)

    def snooze(
        self, channel: Channel | int, *, wa_id: str | None = None, user_id: str | None = None, until: datetime | str
    ) -> datetime:
        """Snooze the contact's latest session until `until` (an instant, or a duration such as "2h")."""
        session = self.session(channel, wa_id=wa_id, user_id=user_id)
        return snooze_service.snooze(self.runtime.ctx, session.id, until)

    def wake(self, channel: Channel | int, *, wa_id: str | None = None, user_id: str | None = None) -> None:
        """End the contact's session's snooze now (the API's DELETE /sessions/{id}/snooze)."""
        snooze_service.wake(self.runtime.ctx, self.session(channel, wa_id=wa_id, user_id=user_id).id)

    def _after_ack(self) -> None:
        if self.apply_on_ack:
            self.drain()

    def drain(self) -> None:
        """Apply every logged webhook body now: a 200 means the body is logged, and the Simulator's
        callers read the state it leads to (issue 12: the apply queue)."""
        self.runtime.ingestor.drain()

    # -- time ------------------------------------------------------------------------------------------

    def advance(self, by: str | timedelta | int | float) -> None:
        delta = parse_duration(by, field="advance")
        self.run_until(self.now + delta)

    def run_until(self, target: datetime | str) -> None:
        target = parse_instant(target)
        if target < self.now:
            raise ValueError(f"run_until: {target.isoformat()} is before the simulator's now {self.now.isoformat()}")
        for _ in range(MAX_STEPS_PER_ADVANCE):
            self.run_due()
            upcoming = [
                t
                for t in (
                    self.runtime.due.next_due_at(),
                    self.runtime.sender.next_attempt_at(),
                    self.runtime.event_dispatch.next_attempt_at(),
                    self.runtime.relay.next_attempt_at(),
                    self.runtime.chatwoot.next_attempt_at(),  # issue 22
                    self.fake.next_webhook_at(),
                )
                if t is not None
            ]
            nxt = min(upcoming) if upcoming else None
            if nxt is None or nxt > target:
                break
            if nxt > self.now:
                self.clock.set(nxt)
        else:  # pragma: no cover - a scheduling bug, not a user error
            raise RuntimeError("the simulator kept finding due work at the same instant")
        self.clock.set(target)
        self.run_due()

    def run_due(self) -> None:
        """Run everything due at the current instant until nothing more is."""
        for _ in range(10_000):
            did = self.runtime.due.run_due().total
            did += self.runtime.sender.run_pending().total
            did += self.runtime.event_dispatch.run_pending().total  # issue 4: event webhooks
            did += self.runtime.relay.run_pending().total  # issue 16: forward targets
            did += self.runtime.chatwoot.run_pending().total  # issue 22: connected Chatwoots
            for hook in self.fake.due_webhooks(self.now):
                raw, headers = self.fake.signed(hook)
                self.client.post("/webhooks/whatsapp", content=raw, headers=headers).raise_for_status()
                did += 1
            self.drain()
            if not did:
                return
        raise RuntimeError("the simulator did not settle at one instant")  # pragma: no cover

    # -- what happened -----------------------------------------------------------------------------------

    def outbox(self, channel: Channel | int) -> list[OutboxMessage]:
        ch = self.channel(channel)
        return [
            OutboxMessage(
                to=m.to,
                recipient=m.recipient,
                body=m.body,
                sent_at=m.sent_at,
                wamid=m.wamid,
                type=m.type,
                callback_data=m.callback_data,
            )
            for m in self.fake.accepted(ch.phone_number_id)
        ]

    def session(self, channel: Channel | int, *, wa_id: str | None = None, user_id: str | None = None) -> SessionView:
        ch = self.channel(channel)
        row = reads.latest_session(self.runtime.ctx, ch, wa_id=wa_id, user_id=user_id)
        if row is None:
            raise LookupError(f"no session for wa_id={wa_id!r} user_id={user_id!r} on channel {ch.id}")
        return self._view(row)

    def active_sessions(self, channel: Channel | int) -> list[SessionView]:
        return [self._view(r) for r in reads.active_sessions(self.runtime.ctx, _id(channel))]

    def timeline(self, session: SessionView | int) -> list[EventView]:
        return [_event_view(e) for e in reads.session_events(self.runtime.ctx, _session_id(session))]

    def admin_events(self, channel: Channel | int) -> list[EventView]:
        """Events of the channel's workspace that belong to no session (settings saved, …)."""
        ch = self.channel(channel)
        found = reads.workspace_events(self.runtime.ctx, ch.workspace_id)
        return [_event_view(e) for e in found if e.session_id is None]

    def transcript(self, session: SessionView | int) -> list[MessageView]:
        return [_message_view(m) for m in reads.transcript(self.runtime.ctx, _session_id(session))]

    def message(self, message_id: int) -> MessageView:
        found = reads.message(self.runtime.ctx, message_id)
        if found is None:
            raise LookupError(f"no message {message_id}")
        return _message_view(found)

    def message_by_wamid(self, channel: Channel | int, wamid: str) -> MessageView | None:
        found = reads.message_by_wamid(self.runtime.ctx, _id(channel), wamid)
        return _message_view(found) if found is not None else None

    def message_count(self, *, direction: str | None = None) -> int:
        """Messages stored on every channel, in and out (or only `direction`)."""
        return reads.message_count(self.runtime.ctx, direction=direction)

    def usage(self, channel: Channel | int, month: str | None = None) -> usage_service.Usage:
        """The channel's usage in calendar month 'YYYY-MM' of its time zone (default: this month), R23."""
        return usage_service.channel_usage(self.runtime.ctx, _id(channel), month, workspace_id=None)

    def meta_window(self, session: SessionView | int) -> usage_service.MetaWindow:
        """The free entry point window Meta reported for the session and its referral (R23)."""
        return usage_service.session_meta_window(self.runtime.ctx, _session_id(session))

    def entry_point(self, channel: Channel | int, wa_id: str, *, hours: int = 72) -> None:
        """The customer comes from a Click-to-WhatsApp ad: the fake opens a free entry point window at
        the business's next reply and prices sends inside it as Meta does (R23)."""
        self.fake.entry_point(self.channel(channel).phone_number_id, wa_id, window=timedelta(hours=hours))

    def contact_name(self, session: SessionView | int) -> str:
        return reads.contact_name(self.runtime.ctx, _session_id(session))

    def _view(self, row: reads.SessionRow) -> SessionView:
        policy = self.channel(row.channel_id).policy
        return SessionView(
            id=row.id,
            status=row.status,
            opened_at=row.opened_at,
            closed_at=row.closed_at,
            close_reason=row.close_reason,
            last_customer_message_at=row.last_customer_at,
            eligible=row.eligible(self.now),
            eligible_at=row.eligible_at,
            closes_at=row.closes_at,
            window_closes_at=row.window_closes_at,
            reminder_state=row.reminder_state,
            reminder_due_at=row.reminder_due_at,
            reminder_reason=row.reminder_reason,
            awaiting=row.awaiting,
            reminder_step=row.reminder_step,
            snoozed_until=row.snoozed_until if is_snoozed(row.snoozed_until, self.now) else None,
            held=row.active and is_held(policy, row.awaiting),
        )


def _session_id(session: SessionView | int) -> int:
    return session if isinstance(session, int) else session.id


def _event_view(e: reads.Event) -> EventView:
    return EventView(id=e.id, type=e.type, at=e.at, channel_id=e.channel_id, session_id=e.session_id, data=dict(e.data))


def _message_view(m: reads.MessageRow) -> MessageView:
    return MessageView(
        id=m.id,
        session_id=m.session_id,
        direction=m.direction,
        kind=m.kind,
        type=m.type,
        body=m.body,
        wamid=m.wamid,
        status=m.status,
        sent_at=m.sent_at,
        status_at=m.status_at,
        error_code=m.error_code,
        error_title=m.error_title,
        error_detail=m.error_detail,
        callback_data=m.callback_data,
        attempts=m.attempts,
    )


def _id(channel: Channel | int) -> int:
    return channel if isinstance(channel, int) else channel.id


def _sign(app_secret: str, raw: bytes) -> str:
    return sign(app_secret, raw)
