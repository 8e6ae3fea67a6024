"""Every Cloud API error class against the fake, through the real sender (ADR 0002, ADR 0005).

Each test checks the outbox row, the reminder state, the timeline, and what the fake accepted:
a reminder is never sent twice.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx
import pytest

from tests.support.fidelity import ANA, BRUNO, at
from wasession.services import channels as channel_service
from wasession.store import messages as message_store
from wasession.testing import Simulator
from wasession.whatsapp.client import CloudClient

# Together more than 10 s on a loaded 2-core machine: out of the loop between two edits.
pytestmark = pytest.mark.slow

THROTTLING = (130429, 4, 80007, 131057, 131016, 131000, 2)
NEVER_RETRIED = (131047, 131026, 131051, 368, 131031, 130497, 131048, 132000, 132001, 132015)


def _reminder_channel(sim: Simulator):  # type: ignore[no-untyped-def]
    return sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="6h")


def _reminder_row(sim: Simulator, session_id: int) -> message_store.MessageRow:
    rows = [m for m in sim.transcript(session_id) if m.kind == "reminder"]
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("code", THROTTLING)
def test_throttling_is_retried_with_growing_backoff_then_sent_exactly_once(sim: Simulator, code: int) -> None:
    ch = _reminder_channel(sim)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.fake.fail_next(code, count=4)
    sim.advance("1h")  # 16:00: the reminder is due
    sim.advance("2m")
    s = sim.session(ch, wa_id=ANA)
    events = sim.timeline(s)
    retries = [e for e in events if e.type == "reminder_retry"]
    assert [e.data["error_code"] for e in retries] == [code] * 4
    # The time between attempts grows: 1-2 s, 2-4 s, 4-8 s, 8-16 s.
    attempts_at = [e.at for e in retries]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts_at)]
    assert all(g2 > g1 for g1, g2 in itertools.pairwise(gaps)), gaps
    delays = [e.data["delay_seconds"] for e in retries]
    for n, delay in enumerate(delays, start=1):
        assert 2 ** (n - 1) <= delay <= 2**n
    out = sim.outbox(ch)
    assert len(out) == 1
    assert abs(out[0].sent_at - (attempts_at[-1] + timedelta(seconds=delays[-1]))) < timedelta(milliseconds=1)
    row = _reminder_row(sim, s.id)
    assert row.attempts == 5 and row.status in ("delivered", "read")
    assert s.reminder_state in ("delivered", "read")
    assert [e.type for e in events].count("reminder_accepted") == 1


def test_throttling_that_never_ends_fails_after_the_attempt_limit(sim: Simulator) -> None:
    from wasession.outbox import MAX_ATTEMPTS

    ch = _reminder_channel(sim)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.fake.fail_next(130429, count=MAX_ATTEMPTS + 5)
    sim.advance("2h")
    s = sim.session(ch, wa_id=ANA)
    row = _reminder_row(sim, s.id)
    assert row.status == "failed" and row.error_code == 130429 and row.attempts == MAX_ATTEMPTS
    types = [e.type for e in sim.timeline(s)]
    assert types.count("reminder_retry") == MAX_ATTEMPTS - 1 and types.count("reminder_failed") == 1
    assert s.reminder_state == "failed" and sim.outbox(ch) == []


def test_pair_rate_limit_holds_only_that_recipient_for_4_to_the_x_seconds(sim: Simulator) -> None:
    ch = _reminder_channel(sim)
    sim.customer_message(ch, wa_id=ANA, name="Ana")  # reminder at 16:00:00
    sim.advance("2s")
    sim.customer_message(ch, wa_id=BRUNO, name="Bruno")  # reminder at 16:00:02
    sim.run_until("2026-01-05T15:59:59Z")
    sim.fake.fail_next(131056)  # Ana's send at 16:00:00
    sim.run_until("2026-01-05T16:00:03Z")
    sim.fake.fail_next(131056)  # Ana's first retry, at 16:00:04
    sim.advance("1m")
    out = {m.to: m.sent_at for m in sim.outbox(ch)}
    # Ana waits 4 s, then 16 s; Bruno, due in between, is not held up by her.
    assert out["+" + BRUNO] == at("2026-01-05T16:00:02Z")
    assert out["+" + ANA] == at("2026-01-05T16:00:20Z")
    ana = sim.session(ch, wa_id=ANA)
    retries = [e.data for e in sim.timeline(ana) if e.type == "reminder_retry"]
    assert [(r["error_code"], r["delay_seconds"]) for r in retries] == [(131056, 4.0), (131056, 16.0)]
    assert len(sim.outbox(ch)) == 2


@pytest.mark.parametrize("code", NEVER_RETRIED)
def test_codes_that_are_never_retried_fail_once(sim: Simulator, code: int) -> None:
    ch = _reminder_channel(sim)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.fake.fail_next(code)
    sim.advance("1h")
    sim.advance("3h")  # plenty of time for a retry that must not happen
    s = sim.session(ch, wa_id=ANA)
    row = _reminder_row(sim, s.id)
    assert row.status == "failed" and row.error_code == code and row.attempts == 1
    assert row.error_title
    events = sim.timeline(s)
    failed = [e for e in events if e.type == "reminder_failed"]
    assert len(failed) == 1 and failed[0].data["error_code"] == code
    assert "reminder_retry" not in [e.type for e in events]
    assert s.reminder_state == "failed" and s.reminder_reason == f"error {code}"
    assert sim.outbox(ch) == []
    closed = [e for e in events if e.type == "window_closed"]
    assert len(closed) == (1 if code == 131047 else 0)


@pytest.mark.parametrize(("code", "http_status"), [(190, 401), (0, 401)])
def test_auth_errors_pause_the_channel_and_new_credentials_resume_it(
    sim: Simulator, code: int, http_status: int
) -> None:
    ch = _reminder_channel(sim)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.customer_message(ch, wa_id=BRUNO, name="Bruno")
    sim.fake.fail_next(code, http_status=http_status, count=2)
    sim.advance("1h")
    sim.advance("20m")
    paused = sim.channel(ch)
    assert paused.sending_paused_reason and f"error {code}" in paused.sending_paused_reason
    for who in (ANA, BRUNO):
        s = sim.session(ch, wa_id=who)
        row = _reminder_row(sim, s.id)
        assert row.status == "pending" and row.attempts == 0  # held, nothing burned
        assert s.reminder_state == "queued"
    assert sim.outbox(ch) == []  # no request was retried while paused
    channel_service.update_credentials(sim.runtime.ctx, ch.id, access_token=f"sim-token-{ch.phone_number_id}")
    assert sim.channel(ch).sending_paused_reason is None
    sim.run_due()
    assert sorted(m.to or "" for m in sim.outbox(ch)) == ["+" + ANA, "+" + BRUNO]
    sim.advance("1h")
    assert len(sim.outbox(ch)) == 2
    for who in (ANA, BRUNO):
        assert _reminder_row(sim, sim.session(ch, wa_id=who).id).attempts == 1


def test_update_credentials_validates_and_changes_nothing_on_error(sim: Simulator) -> None:
    from wasession.domain.errors import ValidationError

    ch = sim.add_channel()
    with pytest.raises(ValidationError) as info:
        channel_service.update_credentials(sim.runtime.ctx, ch.id, access_token="  ")
    assert info.value.field == "access_token"
    with pytest.raises(ValidationError):
        channel_service.update_credentials(sim.runtime.ctx, ch.id)


def test_timeout_after_the_request_left_is_unknown_and_never_repeated(sim: Simulator) -> None:
    ch = _reminder_channel(sim)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    graph = sim._graph  # the fake, in-process

    def reaches_meta_then_times_out(request: httpx.Request) -> httpx.Response:
        graph.post(request.url.path, content=request.content, headers=dict(request.headers))
        raise httpx.ReadTimeout("read timed out", request=request)

    http = httpx.Client(transport=httpx.MockTransport(reaches_meta_then_times_out))
    sim.runtime.sender.client_for = lambda channel: CloudClient(http, base_url="http://graph.fake")
    sim.advance("1h")
    s = sim.session(ch, wa_id=ANA)
    row = _reminder_row(sim, s.id)
    types = [e.type for e in sim.timeline(s)]
    assert "reminder_unknown" in types and "reminder_retry" not in types
    sim.advance("4h")
    assert len(sim.outbox(ch)) == 1  # Meta got it once; we never sent it again
    # Meta's statuses carry the callback data, so the unknown outcome is resolved.
    row = _reminder_row(sim, s.id)
    assert row.status == "read" and row.wamid == sim.outbox(ch)[0].wamid and row.attempts == 1


def test_no_reminder_is_ever_sent_twice_under_mixed_faults(sim: Simulator) -> None:
    ch = _reminder_channel(sim)
    customers = [f"1555000{n:04d}" for n in range(12)]
    for n, wa_id in enumerate(customers):
        sim.customer_message(ch, wa_id=wa_id, name=f"C{n}")
    sim.fake.fail_next(130429, count=3)
    sim.fake.fail_next(131056, count=2)
    sim.fake.fail_next(131026, count=1)
    sim.advance("1h")
    sim.advance("2h")
    sent_to = [m.to for m in sim.outbox(ch)]
    assert len(sent_to) == len(set(sent_to)) == len(customers) - 1
