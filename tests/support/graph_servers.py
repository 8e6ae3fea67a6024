"""Hostile Graph origins on 127.0.0.1 (threads, ephemeral ports): one that trickles its answer, one that
answers far too much, one that hangs until told to stop."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head


@dataclass
class Origin:
    url: str
    arrived: list[float] = field(default_factory=list)  # monotonic times requests arrived
    sent: list[int] = field(default_factory=list)  # bytes of answer written, per request


@contextmanager
def origin(
    answer: Callable[[], Iterable[bytes]] | None = None, *, gap: float = 0.0, tls: ssl.SSLContext | None = None
) -> Iterator[Origin]:
    """Serves each request with the pieces `answer()` gives (None: hangs until the block ends), `gap`
    seconds before each piece; over TLS with `tls` (a server context: an https:// origin)."""
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    served = Origin(f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}")

    def serve(raw: socket.socket) -> None:
        try:
            conn = tls.wrap_socket(raw, server_side=True) if tls is not None else raw
        except OSError:  # ssl.SSLError too: a client that refused the certificate hung up mid-handshake
            raw.close()
            return
        with conn:
            if not _read_request(conn):
                return
            served.arrived.append(time.monotonic())
            if answer is None:
                stop.wait()
                return
            served.sent.append(0)
            for piece in answer():
                if stop.wait(gap):
                    return
                try:
                    conn.sendall(piece)
                except OSError:
                    return  # the client gave up: what the test wants
                served.sent[-1] += len(piece)

    serving: list[threading.Thread] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            serving.append(threading.Thread(target=serve, args=(conn,), daemon=True))
            serving[-1].start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        stop.set()
        thread.join(2)
        for t in serving:
            t.join(5)  # so that what it sent is final
        listener.close()


OK_BODY = b'{"messages":[{"id":"wamid.OK"}]}'


def ok_answer() -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        len(OK_BODY),
        OK_BODY,
    )


def trickled(data: bytes) -> Callable[[], Iterator[bytes]]:
    """One byte at a time."""
    return lambda: (data[i : i + 1] for i in range(len(data)))


def flood(total: int, *, declare: bool) -> Callable[[], Iterator[bytes]]:
    """A 200 answer of `total` bytes, its length declared up front or not (then it ends with the connection)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: %d\r\n\r\n" % total if declare else b"Connection: close\r\n\r\n"
    piece = b"x" * 65536

    def pieces() -> Iterator[bytes]:
        yield head
        for _ in range(total // len(piece)):
            yield piece

    return pieces
