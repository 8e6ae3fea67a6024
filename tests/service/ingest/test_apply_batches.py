"""The one apply path (`Applier.apply`, issues 12b and 21): a batch ends exactly as its bodies
applied one batch each, in log-id order — same rows, same events in the same order, same results —
on random batches of customer messages, duplicates, late and out-of-order messages, statuses of our sends (forward
only, failures, unknown wamids, callback data), several contacts and channels."""

from __future__ import annotations

import json
import random
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Connection, event, func, select, update

from tests.conftest import fresh_postgres_url, load_fixture
from wasession.domain.rates import parse_rate_card
from wasession.ingest.apply import Applier
from wasession.ingest.batch import BodyToApply, Update, updates_in_order
from wasession.ingest.credentials import TRUSTED, Verdict
from wasession.ingest.result import IngestResult
from wasession.sandbox.bodies import new_wamid, status_body, text_message_body
from wasession.store import migrate
from wasession.store import rates as rate_store
from wasession.store.channels import ChannelCache
from wasession.store.db import Database, connect
from wasession.store.schema import (
    channels,
    contacts,
    events,
    message_pricing,
    messages,
    metadata,
    session_referrals,
    sessions,
)
from wasession.testing import Simulator
from wasession.whatsapp.payload import WebhookBatch, parse_webhook

TABLES = (contacts, sessions, messages, events, message_pricing)
PRICED_REGULAR = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
PRICED_SERVICE = {"billable": False, "pricing_model": "PMP", "type": "free_customer_service", "category": "service"}
PRICED_FREE_ENTRY = {"billable": False, "pricing_model": "PMP", "type": "free_entry_point", "category": "service"}
FREE_CONVERSATION = {"id": "conv-free-1", "origin": {"type": "referral_conversion"}}
CASES = [pytest.param("sqlite", t, id=f"sqlite-{t}") for t in range(25)] + [
    pytest.param("postgresql", t, id=f"postgresql-{t}", marks=pytest.mark.postgres) for t in range(8)
]


@dataclass
class Seed:
    backend: str
    url: str  # sqlite:///file or a PostgreSQL URL whose search_path is the seed's schema
    now: datetime
    pnids: list[str]
    wa_ids: list[str]
    outbound: list[tuple[str, str]]  # (phone_number_id, wamid)
    inbound: list[tuple[str, str]]
    callback: tuple[str, str]  # (phone_number_id, callback data) of a send whose wamid was lost
    workspace_channels: dict[str, set[str]]


@contextmanager
def _seed_of(backend: str) -> Iterator[Seed]:
    """A database with active and closed sessions on two channels, reminders sent (no statuses yet)."""
    if backend == "sqlite":
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='apply-many-')) / 'seed.sqlite3'}"
        yield from _seeded(backend, url)
    else:
        for url in fresh_postgres_url():
            yield from _seeded(backend, url)


@pytest.fixture(scope="module")
def seeds() -> Iterator[Callable[[str], Seed]]:
    """Each backend's seed, made when a case first asks for it and shared by every case of the module:
    a module fixture parametrized through CASES was made again for each case (20 of the module's 28 s).
    The cases only read it, through copy_of."""
    made: dict[str, Seed] = {}
    with ExitStack() as stack:

        def of(backend: str) -> Seed:
            if backend not in made:
                made[backend] = stack.enter_context(_seed_of(backend))
            return made[backend]

        yield of


@pytest.fixture
def seed(request: pytest.FixtureRequest, seeds: Callable[[str], Seed]) -> Seed:
    return seeds(request.param)


def _seeded(backend: str, url: str) -> Iterator[Seed]:
    with Simulator(start="2026-01-05T09:00:00Z", database_url=url, status_delays=None) as sim:
        ch1 = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="4h", reopen_within="1d")
        ch2 = sim.add_channel(reminder_enabled=True, reminder_after_hours=2, session_timeout="24h")
        wa_ids = [f"4477000000{i:02d}" for i in range(10)]
        for i in range(7):
            sim.customer_message(ch1, wa_id=wa_ids[i], name=f"Customer {i}")
        for i in range(3):
            sim.customer_message(ch2, wa_id=wa_ids[i], name=f"Customer {i}")
        sim.advance("3h")
        for i in range(3, 6):
            sim.customer_message(ch1, wa_id=wa_ids[i], name=f"Customer {i}")
        sim.advance("90m")
        with sim.runtime.db.write() as conn:
            rows = conn.execute(select(messages.c.id, messages.c.channel_id, messages.c.wamid, messages.c.direction))
            found = [(r.id, r.channel_id, r.wamid, r.direction) for r in rows]
            by_channel = {ch1.id: ch1.phone_number_id, ch2.id: ch2.phone_number_id}
            outbound = [(by_channel[c], w) for _, c, w, d in found if d == "out" and w]
            inbound = [(by_channel[c], w) for _, c, w, d in found if d == "in"]
            lost_id, lost_channel = next((i, c) for i, c, w, d in found if d == "out" and w)
            lost = conn.execute(select(messages.c.callback_data).where(messages.c.id == lost_id)).scalar_one()
            conn.execute(update(messages).where(messages.c.id == lost_id).values(wamid=None, status="unknown"))
        outbound = [o for o in outbound if o[1] is not None]
        assert len(outbound) >= 8, outbound
        now = sim.now
    yield Seed(
        backend,
        url,
        now,
        [ch1.phone_number_id, ch2.phone_number_id],
        wa_ids,
        outbound,
        inbound,
        (by_channel[lost_channel], lost),
        {"default": {ch1.phone_number_id, ch2.phone_number_id}},
    )


def copy_of(seed: Seed, name: str) -> Database:
    """A new database holding the seed's rows (a file copy on SQLite, a migrated schema on PostgreSQL)."""
    if seed.backend == "sqlite":
        source = Path(seed.url.removeprefix("sqlite:///"))
        target = source.with_name(f"{name}.sqlite3")
        target.unlink(missing_ok=True)
        src, dst = sqlite3.connect(source), sqlite3.connect(target)
        src.backup(dst)
        src.close()
        dst.close()
        return connect(f"sqlite:///{target}")
    base, _, options = seed.url.partition("?options=-csearch_path%3D")
    schema = f"{options}_{name}"
    db = connect(f"{base}?options=-csearch_path%3D{schema}")
    with db.write() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    migrate.upgrade(db)
    with db.write() as conn:
        for table in metadata.sorted_tables:
            conn.exec_driver_sql(f'INSERT INTO "{schema}".{table.name} SELECT * FROM "{options}".{table.name}')
            if "id" in table.c:
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('\"{schema}\".{table.name}', 'id'), "
                    f'(SELECT coalesce(max(id), 0) + 1 FROM "{schema}".{table.name}), false)'
                )
    return db


def discard(db: Database) -> None:
    """Dispose of a copy (and drop its schema on PostgreSQL)."""
    if db.is_postgres:
        with db.write() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    db.dispose()


def trusted(log_id: int, raw: Any, at: datetime) -> BodyToApply:
    """The logged body `raw` (a webhook's JSON object), as the apply queue hands it over once judged."""
    return BodyToApply(log_id, updates_in_order(parse_webhook(raw)), TRUSTED, at, IngestResult(log_id=log_id))


def applied_counting(conn: Connection, bodies: list[BodyToApply]) -> list[tuple[str, Any]]:
    """Apply `bodies` in `conn`'s transaction; the (statement, parameters) it ran, in order."""
    statements: list[tuple[str, Any]] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    event.listen(conn, "before_cursor_execute", count)
    try:
        Applier(ChannelCache()).apply(conn, bodies, {})
    finally:
        event.remove(conn, "before_cursor_execute", count)
    return statements


class Bodies:
    """Random bodies over the seed's contacts, channels and sends."""

    def __init__(self, seed: Seed, rng: random.Random) -> None:
        self.seed, self.rng = seed, rng
        self.sent_inbound: list[tuple[str, str]] = list(seed.inbound)

    def customer(self, at: datetime) -> dict[str, Any]:
        rng = self.rng
        pnid = rng.choice(self.seed.pnids)
        wa_id = rng.choice(self.seed.wa_ids)
        if rng.random() < 0.15 and self.sent_inbound:
            pnid, wamid = rng.choice(self.sent_inbound)  # a retry (R4)
        else:
            wamid = new_wamid(wa_id)
            self.sent_inbound.append((pnid, wamid))
        # Mostly now, sometimes late (older than T: R5), sometimes before a closed session ended.
        written = at - timedelta(seconds=rng.choice([0, 0, 0, 5, 600, 3 * 3600, 5 * 3600]))
        body = text_message_body(
            phone_number_id=pnid,
            wa_id=wa_id,
            name=rng.choice(["A", "B", None]),
            text="hi",
            timestamp=written,
            wamid=wamid,
        )
        message = body["entry"][0]["changes"][0]["value"]["messages"][0]
        kind = rng.random()
        if kind < 0.05:
            # A changed number (R1): the contact is re-keyed, unless another contact has the new one.
            message["type"] = "system"
            del message["text"]
            new = rng.choice([*self.seed.wa_ids, f"4478{rng.randrange(10**8):08d}"])
            message["system"] = {"body": "changed", "wa_id": new, "type": "user_changed_number"}
        elif kind < 0.1:
            message["type"] = "reaction"  # does not open a window (R2)
            del message["text"]
            message["reaction"] = {"message_id": rng.choice(self.sent_inbound)[1], "emoji": "+"}
        elif kind < 0.15:
            message["group_id"] = "120363000000000001"
        return body

    def status(self, at: datetime) -> dict[str, Any]:
        rng = self.rng
        choice = rng.random()
        callback = None
        if choice < 0.7:
            pnid, wamid = rng.choice(self.seed.outbound)
        elif choice < 0.8:
            pnid, callback = self.seed.callback
            wamid = "wamid.learned-" + callback
        elif choice < 0.9:
            pnid, wamid = rng.choice(self.sent_inbound)  # names a customer's message: changes nothing
        elif choice < 0.95:
            pnid, wamid = rng.choice(self.seed.pnids), new_wamid()  # unknown
        else:
            pnid, wamid = "999000000000999", new_wamid()  # no channel has this number
        state = rng.choice(["sent", "delivered", "read", "read", "played", "failed"])
        errors = []
        if state == "failed":
            code = rng.choice([131047, 131026])
            errors = [{"code": code, "title": "Failed", "message": "m", "error_data": {"details": "d"}}]
        written = at - timedelta(seconds=rng.choice([0, 1, 30]))
        # Meta's pricing on `sent` and `delivered`, sometimes in a free entry point window (R23): the
        # batched path reads what is stored for a batch's sends once and keeps it current.
        pricing = rng.choice([None, None, PRICED_REGULAR, PRICED_SERVICE, PRICED_FREE_ENTRY])
        conversation = FREE_CONVERSATION if pricing is PRICED_FREE_ENTRY else None
        return status_body(
            phone_number_id=pnid,
            wamid=wamid,
            status=state,
            timestamp=written,
            recipient_id="447700000000",
            callback_data=callback,
            errors=errors,
            pricing=pricing,
            conversation=conversation,
        )

    def other(self) -> dict[str, Any]:
        """An update that is neither a message nor a status: for a channel's number, or account-wide."""
        if self.rng.random() < 0.5:
            return load_fixture("account_update.json")["account_deleted"]
        body = json.dumps(load_fixture("user_marketing_preferences.json")["signup"])
        return json.loads(body.replace("106540352242922", self.rng.choice(self.seed.pnids)))

    def part(self, at: datetime) -> dict[str, Any]:
        roll = self.rng.random()
        return self.status(at) if roll < 0.55 else self.other() if roll < 0.6 else self.customer(at)

    def body(self, at: datetime) -> tuple[list[Update], Verdict]:
        parts = [parse_webhook(self.part(at)) for _ in range(self.rng.randint(1, 4))]
        batch = WebhookBatch(
            messages=tuple(m for p in parts for m in p.messages),
            statuses=tuple(s for p in parts for s in p.statuses),
            others=tuple(o for p in parts for o in p.others),
        )
        verdict = TRUSTED
        if self.rng.random() < 0.1:
            pnid1, pnid2 = self.seed.pnids
            verdict = Verdict(verified=frozenset({pnid1}), refused=frozenset({pnid2}))
        return updates_in_order(batch), verdict


def make_bodies(seed: Seed, rng: random.Random, n: int) -> list[BodyToApply]:
    gen = Bodies(seed, rng)
    at = seed.now
    bodies = []
    for log_id in range(1, n + 1):
        at += timedelta(milliseconds=rng.choice([0, 10, 500, 5000]))
        updates, verdict = gen.body(at)
        bodies.append(BodyToApply(log_id, updates, verdict, at, IngestResult(log_id=log_id)))
    return bodies


def fresh(bodies: list[BodyToApply]) -> list[BodyToApply]:
    return [BodyToApply(b.log_id, b.updates, b.verdict, b.received_at, IngestResult(log_id=b.log_id)) for b in bodies]


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    with db.read() as conn:
        return {t.name: [tuple(r) for r in conn.execute(select(t).order_by(*t.primary_key.columns))] for t in TABLES}


def results(bodies: list[BodyToApply]) -> list[tuple[Any, ...]]:
    return [(b.result.to_outcome(), b.result.due_at, b.result.customers) for b in bodies]


def batched(db: Database, bodies: list[BodyToApply], cuts: list[int]) -> None:
    """Apply `bodies` in batches that end at each of `cuts` (and at the end), one transaction each."""
    applier = Applier(ChannelCache())
    starts = [0, *cuts]
    for start, end in zip(starts, [*cuts, len(bodies)], strict=True):
        with db.write() as conn:
            applier.apply(conn, bodies[start:end], {})


def random_cuts(rng: random.Random, count: int) -> list[int]:
    """Random batch boundaries: sometimes one batch of everything, else batches of random sizes."""
    if rng.random() < 0.2:
        return []
    return sorted(rng.sample(range(1, count), rng.randint(1, max(1, count // 4))))


@pytest.mark.parametrize(("seed", "trial"), CASES, indirect=["seed"])
def test_a_batch_ends_as_its_bodies_applied_one_batch_each(seed: Seed, trial: int) -> None:
    rng = random.Random(trial)
    bodies = make_bodies(seed, rng, rng.choice([5, 20, 60]))
    alone, together = fresh(bodies), fresh(bodies)
    db_a, db_b, original = copy_of(seed, f"a{trial}"), copy_of(seed, f"b{trial}"), copy_of(seed, f"o{trial}")
    try:
        batched(db_a, alone, list(range(1, len(bodies))))  # one batch each
        batched(db_b, together, random_cuts(rng, len(bodies)))
        before, after_a, after_b = dump(original), dump(db_a), dump(db_b)
        assert after_a != before, "the trial changed nothing: it tests nothing"
        for table in after_a:
            assert after_b[table] == after_a[table], table
        assert results(together) == results(alone)
    finally:
        for db in (db_a, db_b, original):
            discard(db)


@pytest.mark.parametrize("seed", ["sqlite"], indirect=True)
def test_a_batch_costs_a_few_statements_whatever_its_size(seed: Seed) -> None:
    """Set-based: one read each for wamids, contacts and sessions, each through an index, and one
    write per table, not ~10 statements per message (returning customers on active sessions, and
    statuses of our sends)."""
    rng = random.Random(7)
    ch2 = seed.pnids[1]
    at = seed.now
    bodies = []
    for log_id in range(1, 201):
        at += timedelta(milliseconds=10)
        if log_id % 2:
            raw = text_message_body(
                phone_number_id=ch2, wa_id=rng.choice(seed.wa_ids[:3]), name=None, text="again", timestamp=at
            )
        else:
            pnid, wamid = rng.choice([o for o in seed.outbound if o[0] == ch2])
            raw = status_body(
                phone_number_id=pnid,
                wamid=wamid,
                status=rng.choice(["sent", "delivered", "read"]),
                timestamp=at,
                recipient_id="1",
            )
        bodies.append(trusted(log_id, raw, at))
    db = copy_of(seed, "count")
    try:
        with db.write() as conn:
            statements = applied_counting(conn, bodies)
            # Each read probes an index: none reads a whole table of messages, contacts or sessions.
            for statement, parameters in statements:
                if statement.lstrip().upper().startswith("SELECT"):
                    plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
                    scans = [row[-1] for row in plan if row[-1].startswith("SCAN")]
                    assert not [s for s in scans if any(t in s for t in ("messages", "contacts", "sessions"))], (
                        statement,
                        scans,
                    )
        assert sum(b.result.messages for b in bodies) == 100
        assert len(statements) <= 16, statements
    finally:
        discard(db)


@pytest.mark.parametrize("seed", ["sqlite"], indirect=True)
def test_statuses_that_name_their_send_by_callback_data_read_the_sessions_sends_once(seed: Seed) -> None:
    """Meta posts `sent` at once, often before the send's answer is recorded: such statuses name
    their send by callback data. The batch finds those sends in one read through the session's
    index; `wamid IS NULL` had SQLite walk the (channel, wamid) index over every send of the channel
    still without a wamid (a whole outbox backlog), once per status (issue 21, B7)."""
    pnid, callback = seed.callback
    at = seed.now
    bodies = []
    for log_id, state in enumerate(["sent", "delivered", "read"], start=1):
        at += timedelta(milliseconds=10)
        raw = status_body(
            phone_number_id=pnid,
            wamid="wamid.learned-late",
            status=state,
            timestamp=at,
            recipient_id="1",
            callback_data=callback,
        )
        bodies.append(trusted(log_id, raw, at))
    db = copy_of(seed, "callback")
    try:
        with db.write() as conn:
            statements = applied_counting(conn, bodies)
            lookups = [(s, p) for s, p in statements if "coalesce(messages.wamid" in s]
            assert len(lookups) == 1, statements
            plan = " ".join(
                str(row[-1]) for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {lookups[0][0]}", lookups[0][1])
            )
            assert "ix_messages_session" in plan and "wamid=?" not in plan, plan
            row = conn.execute(
                select(messages.c.wamid, messages.c.status).where(messages.c.callback_data == callback)
            ).one()
        assert tuple(row) == ("wamid.learned-late", "read")
    finally:
        discard(db)


@pytest.mark.parametrize("seed", ["sqlite"], indirect=True)
def test_a_batchs_new_contacts_sessions_and_pricing_are_written_in_one_statement_each(seed: Seed) -> None:
    """Forty first messages from new customers create forty contacts in one INSERT and open forty
    sessions in another; priced statuses of our sends are saved in one INSERT (issue 21)."""
    ch2 = seed.pnids[1]
    at = seed.now
    bodies = []
    for log_id in range(1, 41):
        at += timedelta(milliseconds=10)
        raw = text_message_body(
            phone_number_id=ch2, wa_id=f"4479{log_id:08d}", name=f"New {log_id}", text="hi", timestamp=at
        )
        bodies.append(trusted(log_id, raw, at))
    for log_id, (pnid, wamid) in enumerate([o for o in seed.outbound if o[0] == ch2][:5], start=41):
        at += timedelta(milliseconds=10)
        raw = status_body(phone_number_id=pnid, wamid=wamid, status="delivered", timestamp=at, recipient_id="1")
        payload = json.loads(raw) if isinstance(raw, (bytes, str)) else raw
        payload["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"] = PRICED_REGULAR
        bodies.append(trusted(log_id, payload, at))
    db = copy_of(seed, "new-contacts")
    with db.read() as conn:
        seed_sessions = conn.execute(select(func.max(sessions.c.id))).scalar_one()
    try:
        with db.write() as conn:
            statements = [" ".join(statement.split()).upper() for statement, _ in applied_counting(conn, bodies)]
        assert sum(b.result.opened for b in bodies) == 40
        assert len([s for s in statements if s.startswith("INSERT INTO CONTACTS")]) == 1, statements
        assert len([s for s in statements if s.startswith("INSERT INTO SESSIONS")]) == 1, statements
        assert len([s for s in statements if s.startswith("INSERT INTO MESSAGE_PRICING")]) == 1, statements
        with db.read() as conn:
            assert conn.execute(select(message_pricing.c.message_id)).all(), "no pricing was saved"
            opened = conn.execute(select(sessions.c.contact_id).where(sessions.c.id > seed_sessions)).scalars().all()
            assert len(opened) == 40
    finally:
        discard(db)


@pytest.mark.parametrize("seed", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_referral_on_a_session_the_batch_opens_and_later_messages_end_as_one_batch_each(seed: Seed) -> None:
    """A new customer's first message comes from an ad (its referral names the session by id, so the
    batch writes the new session at once) and they write twice more in the same batch: the same rows
    and events as each body in a batch of its own."""
    ch2 = seed.pnids[1]
    referral = load_fixture("message.json")["referral"]["entry"][0]["changes"][0]["value"]["messages"][0]["referral"]
    at = seed.now
    bodies = []
    for log_id in range(1, 4):
        at += timedelta(seconds=1)
        raw = text_message_body(phone_number_id=ch2, wa_id="447900000001", name="Ad", text=f"m{log_id}", timestamp=at)
        if log_id == 1:
            raw["entry"][0]["changes"][0]["value"]["messages"][0]["referral"] = referral
        bodies.append(trusted(log_id, raw, at))
    alone, together = fresh(bodies), fresh(bodies)
    db_a, db_b = copy_of(seed, "ref-a"), copy_of(seed, "ref-b")
    try:
        batched(db_a, alone, [1, 2])
        batched(db_b, together, [])
        after_a, after_b = dump(db_a), dump(db_b)
        for table in after_a:
            assert after_b[table] == after_a[table], table
        assert results(together) == results(alone)
        assert sum(b.result.opened for b in together) == 1 and sum(b.result.messages for b in together) == 3
        with db_b.read() as conn:
            assert conn.execute(select(func.count()).select_from(session_referrals)).scalar_one() >= 1
    finally:
        for db in (db_a, db_b):
            discard(db)


@pytest.mark.parametrize("seed", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_billed_statuses_read_their_recipients_numbers_once_a_batch_and_count_each_cost_once(seed: Seed) -> None:
    """R23 with a rate card: each send a status first says is billed has its cost estimated once, by
    its recipient's market; the batch reads the numbers of all of them in one query (a query a send
    was about half of applying a billed status, `bench/apply_cost.py`), and a later status of the
    same send counts nothing again."""
    sends = [o for o in seed.outbound if o[0] == seed.pnids[1]][:5]
    assert len(sends) >= 2, "one query for several sends needs several sends"
    at = seed.now
    bodies = []
    for log_id, (pnid, wamid) in enumerate(sends * 2, start=1):  # `sent`, then `delivered`, both priced
        at += timedelta(milliseconds=10)
        raw = status_body(
            phone_number_id=pnid,
            wamid=wamid,
            status="sent" if log_id <= len(sends) else "delivered",
            timestamp=at,
            recipient_id="1",
            pricing=PRICED_REGULAR,
        )
        bodies.append(trusted(log_id, raw, at))
    db = copy_of(seed, "billed")
    card = parse_rate_card("calling_code,category,price,currency\n44,utility,0.0125,USD\n*,utility,0.5,USD\n")
    with db.write() as conn:
        workspace_id = conn.execute(select(channels.c.workspace_id).where(channels.c.phone_number_id == sends[0][0]))
        rate_store.replace(conn, workspace_id.scalar_one(), card, seed.now)

    def counted() -> float:
        return sum(
            REGISTRY.get_sample_value(
                "wasession_estimated_cost_total", {"currency": "USD", "category": "utility", "sender": sender}
            )
            or 0.0
            for sender in ("automated", "human")
        )

    before = counted()
    try:
        with db.write() as conn:
            statements = [" ".join(s.split()).upper() for s, _ in applied_counting(conn, bodies)]
        numbers = [s for s in statements if "CONTACTS.WA_ID" in s and "JOIN CONTACTS" in s]
        assert len(numbers) == 1, statements
        assert counted() - before == pytest.approx(len(sends) * 0.0125)  # the 44 market's rate, once a send
    finally:
        discard(db)
