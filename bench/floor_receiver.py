"""B1-floor: the minimal durable-ack webhook receiver on wasession's stack, as a yardstick for B1.

uvicorn (as `serve` runs it: httptools, uvloop when installed, serve's protocol writing an answer in one
piece), a raw ASGI app, the HMAC-SHA256 check of `X-Hub-Signature-256` on the raw bytes under one app
secret, each body appended to SQLite (WAL, synchronous=NORMAL like wasession's file databases, which
survives a killed process) by one writer thread in group commits, and
200 only after the commit. Nothing is parsed or applied: whatever wasession does beyond this is
its own cost. Run by `bench/ingest.py` in the same run as `serve`; alone:

    python bench/floor_receiver.py --port 8100 --db /tmp/floor.sqlite3 --secret bench-app-secret
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import sqlite3
import threading
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import Future
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

MAX_GROUP = 500


def serve_protocol() -> type[asyncio.Protocol]:
    """`serve`'s own HTTP protocol at its defaults (wasession.api.serving), so a floor runs the stack
    serve runs."""
    from wasession.api.serving import protocol_class

    return protocol_class()


class Writer:
    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
        self._cond = threading.Condition()
        self._waiting: deque[tuple[bytes, Future[int]]] = deque()
        threading.Thread(target=self._run, daemon=True).start()

    def submit(self, body: bytes) -> Future[int]:
        future: Future[int] = Future()
        with self._cond:
            self._waiting.append((body, future))
            self._cond.notify()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting:
                    self._cond.wait()
                group = [self._waiting.popleft() for _ in range(min(MAX_GROUP, len(self._waiting)))]
            self._conn.execute("BEGIN IMMEDIATE")
            ids = [int(self._conn.execute("INSERT INTO log (body) VALUES (?)", (b,)).lastrowid or 0) for b, _ in group]
            self._conn.execute("COMMIT")
            for (_, future), log_id in zip(group, ids, strict=True):
                future.set_result(log_id)


async def whole_body(receive: Receive) -> bytes:
    """The request's body, however many messages it came in (B1-floor's and B7's bare ASGI apps)."""
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def answer_json(send: Send, status: int, answer: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def app_for(secret: bytes, writer: Writer) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await whole_body(receive)
        header = dict(scope["headers"]).get(b"x-hub-signature-256", b"")
        expected = b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        if not hmac.compare_digest(header, expected):
            status, answer = 403, b'{"error":"signature_invalid"}'
        else:
            log_id = await asyncio.wrap_future(writer.submit(body))
            status, answer = 200, b'{"status":"ok","id":%d}' % log_id
        await answer_json(send, status, answer)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    app = app_for(args.secret.encode(), Writer(args.db))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=serve_protocol(),
    )


if __name__ == "__main__":
    main()
