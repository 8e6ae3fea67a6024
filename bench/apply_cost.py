"""Apply cost per update of the one apply path (`Applier.apply`): each body a batch of its own against
batches of BATCH bodies, CPU µs per update, on the same seeded SQLite database.

Bodies are parsed beforehand: this measures applying only (what the apply queue spends per logged
body), both committing every BATCH bodies. Workloads, one update per body as Meta sends them:

- `returning`: a customer of an active session writes again (a new silence, R3);
- `new`: a first message from a new customer (contact and session created);
- `statuses`: `sent`, `delivered` and `read` for our sends (the flood of B7), interleaved;
- `billed`: the same statuses as Meta bills a service reply since 2026-10-01 (`pricing` with `type:
  regular`, `category: service`), in a workspace with a rate card: each send's cost is estimated
  once, by its recipient's market (R23).

    python bench/apply_cost.py            # 6,000 updates per workload
    python bench/apply_cost.py --quick    # 600
"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _seed
import _util

from wasession.ingest.apply import Applier
from wasession.ingest.batch import BodyToApply, Update, updates_in_order
from wasession.ingest.credentials import TRUSTED
from wasession.ingest.result import IngestResult
from wasession.sandbox.bodies import new_wamid, status_body, text_message_body
from wasession.services.rates import import_rate_card
from wasession.store import messages as message_store
from wasession.store.channels import ChannelCache
from wasession.store.db import Connection, connect
from wasession.whatsapp.payload import parse_webhook

BATCH = 200
RATE_CARD = "calling_code,category,price,currency\n1,service,0.0035,USD\n*,service,0.0080,USD\n"
BILLED = {"billable": True, "pricing_model": "PMP", "category": "service", "type": "regular"}


def seed(directory: Path, contacts: int) -> tuple[Path, list[str], list[str]]:
    """Contacts with active sessions, each with one accepted agent message; (file, wa_ids, wamids)."""
    url = _util.sqlite_url(directory, "seed.sqlite3")
    rt = _seed.runtime(url)
    channel = _seed.add_channel(rt)
    import_rate_card(rt.ctx, channel.workspace_id, RATE_CARD)
    closes = _seed.background_closes(contacts, datetime.now(UTC) + timedelta(hours=2))
    session_ids = _seed.seed_sessions(rt, channel, closes)
    now = datetime.now(UTC)
    wamids = [new_wamid() for _ in session_ids]
    with rt.db.write() as conn:
        message_store.insert_messages(
            conn,
            [
                {
                    "session_id": sid,
                    "channel_id": channel.id,
                    "direction": "out",
                    "kind": "agent",
                    "wamid": wamid,
                    "type": "text",
                    "body": "hello",
                    "sent_at": now,
                    "created_at": now,
                    "status": "accepted",
                }
                for sid, wamid in zip(session_ids, wamids, strict=True)
            ],
        )
        wa_ids = [str(r[0]) for r in conn.exec_driver_sql("SELECT wa_id FROM contacts ORDER BY id")]
    rt.stop()
    return directory / "seed.sqlite3", wa_ids, wamids


def workloads(n: int, wa_ids: list[str], wamids: list[str]) -> dict[str, list[list[Update]]]:
    pnid, now = _seed.PHONE_NUMBER_ID, datetime.now(UTC)

    def text(wa_id: str) -> list[Update]:
        # The name the seed gave them: a profile name that changes is rare, and costs an update.
        name = f"Bench {int(wa_id[2:])}"
        raw = text_message_body(phone_number_id=pnid, wa_id=wa_id, name=name, text="again", timestamp=now)
        return updates_in_order(parse_webhook(json.dumps(raw).encode()))

    def status(wamid: str, state: str, pricing: dict[str, object] | None) -> list[Update]:
        raw = status_body(
            phone_number_id=pnid, wamid=wamid, status=state, timestamp=now, recipient_id="1", pricing=pricing
        )
        return updates_in_order(parse_webhook(json.dumps(raw).encode()))

    def flood(pricing: dict[str, object] | None) -> list[list[Update]]:
        updates = []
        for start in range(0, n // 3, BATCH // 3):
            chunk = wamids[start : min(start + BATCH // 3, n // 3)]
            updates += [status(w, s, pricing) for s in ("sent", "delivered", "read") for w in chunk]
        return updates

    return {
        "returning": [text(wa_ids[i % len(wa_ids)]) for i in range(n)],
        "new": [text(f"31{i:010d}") for i in range(n)],
        "statuses": flood(None),
        "billed": flood(BILLED),
    }


def alone(conn: Connection, applier: Applier, bodies: list[BodyToApply]) -> None:
    for b in bodies:
        applier.apply(conn, [b], {})


def together(conn: Connection, applier: Applier, bodies: list[BodyToApply]) -> None:
    applier.apply(conn, bodies, {})


def measure(seed_file: Path, name: str, updates: list[list[Update]], path: Callable[..., None]) -> float:
    """CPU µs per update of applying `updates` on a copy of the seed."""
    target = seed_file.with_name(f"{name}.sqlite3")
    src, dst = sqlite3.connect(seed_file), sqlite3.connect(target)
    src.backup(dst)
    src.close()
    dst.close()
    db = connect(f"sqlite:///{target}")
    applier = Applier(ChannelCache())
    now = datetime.now(UTC)
    bodies = [BodyToApply(i, u, TRUSTED, now, IngestResult(log_id=i)) for i, u in enumerate(updates, 1)]
    started = time.process_time()
    for i in range(0, len(bodies), BATCH):
        with db.write() as conn:
            path(conn, applier, bodies[i : i + BATCH])
    spent = time.process_time() - started
    db.dispose()
    return spent / len(updates) * 1e6


def main() -> int:
    args = _util.base_parser(__doc__ or "").parse_args()
    _util.header("apply cost", args)
    n = 600 if args.quick else 6000
    with _util.temp_dir() as directory:
        seed_file, wa_ids, wamids = seed(directory, n)
        for name, updates in workloads(n, wa_ids, wamids).items():
            before = measure(seed_file, f"{name}-one", updates, alone)
            after = measure(seed_file, f"{name}-many", updates, together)
            print(
                f"{name:>10}: batches of one {before:7.0f} µs/update   batches of {BATCH} {after:7.0f} µs/update"
                f"   ({before / after:.1f}x)   load={_util.loadavg()}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
