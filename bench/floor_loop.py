"""B7-floor: the least a program can do for B7's job on wasession's stack, as a yardstick for B7.

One process: uvicorn (as `serve` runs it) with B1-floor's receiver (`floor_receiver.py`: the HMAC check
and a group-committed SQLite log, 200 after the commit) for the fake's status webhooks; in the same
event loop a sender that claims COUNT pending sends from an SQLite table in rounds, posts each to the
fake over keep-alive raw sockets at no more than LIMIT a second, and records the wamid of each answer;
and a thread that applies the logged bodies: each parsed, each status written onto its send by wamid,
the last applied log id stored in the same transaction. No sessions, no events, no re-check of a
reminder, no retry: whatever wasession does beyond this is its own cost. It exits once every send
is `read`, printing one JSON line (sends, seconds, its CPU seconds). Run by `bench/closed_loop.py` in the same run as
`serve`; alone:

    python bench/floor_loop.py --port 8200 --fake http://127.0.0.1:8100 --dir /tmp/floor --count 3000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import floor_receiver
import ingest
import send_throughput as b4
import uvicorn

from wasession.whatsapp.client import DEFAULT_GRAPH_VERSION

ROUND = 64  # sends claimed per round, as serve's sender claims half of its 128 in flight
CONNECTIONS = 128  # requests in flight, as serve's sender
RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3}
_RANK_SQL = "(CASE status " + " ".join(f"WHEN '{s}' THEN {r}" for s, r in RANK.items()) + " ELSE -1 END)"


def seed(path: Path, count: int) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE sends (id INTEGER PRIMARY KEY, wa_id TEXT, status TEXT, wamid TEXT UNIQUE)")
        db.execute("CREATE INDEX sends_pending ON sends (status) WHERE status = 'pending'")
        db.execute("CREATE TABLE applied (id INTEGER NOT NULL)")
        db.execute("INSERT INTO applied VALUES (0)")
        db.executemany(
            "INSERT INTO sends (wa_id, status) VALUES (?, 'pending')", [(b4.customer_wa_id(n),) for n in range(count)]
        )


def send_request(host: str, path: str, wa_id: str) -> bytes:
    body = json.dumps(
        {"messaging_product": "whatsapp", "to": wa_id, "type": "text", "text": {"body": "Still there?"}}
    ).encode()
    return ingest.raw_post(
        host, path, body, {"Authorization": f"Bearer {b4.TOKEN}", "Content-Type": "application/json"}
    )


class Sender:
    def __init__(self, db_path: Path, fake: str, limit: int) -> None:
        self.db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA synchronous=NORMAL")
        origin = urlsplit(fake)
        self.host, self.port = origin.netloc, origin.port or 80
        self.path = f"/{DEFAULT_GRAPH_VERSION}/{b4.PNID}/messages"
        self.interval = 1.0 / limit

    async def run(self) -> None:
        conns = await ingest.connect(self.port, CONNECTIONS)
        free: asyncio.Queue[ingest.Connection] = asyncio.Queue()
        for conn in conns:
            free.put_nowait(conn)
        next_at = time.monotonic()
        answered: list[tuple[str, int]] = []
        pending: set[asyncio.Task[None]] = set()

        async def one(send_id: int, wa_id: str, at: float) -> None:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            conn = await free.get()
            status, body = await conn.exchange(send_request(self.host, self.path, wa_id))
            free.put_nowait(conn)
            if status == 200:
                answered.append((json.loads(body)["messages"][0]["id"], send_id))

        while True:
            self.db.execute("BEGIN IMMEDIATE")
            if answered:
                self.db.executemany("UPDATE sends SET wamid = ?, status = 'accepted' WHERE id = ?", answered)
                answered = []
            rows = self.db.execute("SELECT id, wa_id FROM sends WHERE status = 'pending' LIMIT ?", (ROUND,)).fetchall()
            self.db.executemany("UPDATE sends SET status = 'sending' WHERE id = ?", [(r[0],) for r in rows])
            self.db.execute("COMMIT")
            if not rows and not pending:
                return
            for send_id, wa_id in rows:
                next_at = max(next_at + self.interval, time.monotonic() - 1.0)  # never a burst over the limit
                task = asyncio.ensure_future(one(send_id, wa_id, next_at))
                pending.add(task)
                task.add_done_callback(pending.discard)
            await asyncio.sleep(max(0.001, next_at - time.monotonic() - 0.05) if rows else 0.01)


def apply_forever(db_path: Path, log_path: Path, done: threading.Event, count: int) -> None:
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA synchronous=NORMAL")
    log = sqlite3.connect(log_path, isolation_level=None)
    last = 0
    while True:
        rows = log.execute("SELECT id, body FROM log WHERE id > ? ORDER BY id LIMIT 500", (last,)).fetchall()
        if not rows:
            if db.execute("SELECT count(*) FROM sends WHERE status = 'read'").fetchone()[0] >= count:
                done.set()
                return
            time.sleep(0.02)
            continue
        updates = []
        for _, body in rows:
            for entry in json.loads(body)["entry"]:
                for change in entry["changes"]:
                    for status in change["value"].get("statuses", ()):
                        updates.append((status["status"], RANK.get(status["status"], 0), status["id"]))
        db.execute("BEGIN IMMEDIATE")
        # A status only moves forward (R15's least form): `sent` may come after `delivered`.
        db.executemany(
            f"UPDATE sends SET status = ? WHERE wamid = ? AND {_RANK_SQL} < ?",
            [(status, wamid, rank) for status, rank, wamid in updates],
        )
        last = rows[-1][0]
        db.execute("UPDATE applied SET id = ?", (last,))
        db.execute("COMMIT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fake", required=True, help="the fake Cloud API's base URL")
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    db_path, log_path = args.dir / "floor.sqlite3", args.dir / "floor-log.sqlite3"
    seed(db_path, args.count)
    writer = floor_receiver.Writer(str(log_path))
    done = threading.Event()
    threading.Thread(target=apply_forever, args=(db_path, log_path, done, args.count), daemon=True).start()
    server = uvicorn.Server(
        uvicorn.Config(
            floor_receiver.app_for(b4.APP_SECRET.encode(), writer),
            host="127.0.0.1",
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http=floor_receiver.serve_protocol(),
        )
    )

    async def run() -> None:
        serving = asyncio.ensure_future(server.serve())
        while not server.started:
            await asyncio.sleep(0.01)
        started, cpu = time.monotonic(), time.process_time()
        await Sender(db_path, args.fake, args.limit).run()
        while not done.is_set():
            await asyncio.sleep(0.02)
        took = {"seconds": round(time.monotonic() - started, 2), "cpu": round(time.process_time() - cpu, 2)}
        print(json.dumps({"sends": args.count, **took}), flush=True)
        server.should_exit = True
        await serving

    asyncio.run(run())


if __name__ == "__main__":
    main()
