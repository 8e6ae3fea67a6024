"""Real HTTP receivers on 127.0.0.1 (ephemeral ports), each in its own thread, with scripted misbehaviour."""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"ok":true}'


@dataclass
class Request:
    at: float  # time.monotonic() when the request had fully arrived
    head: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records each request, then answers with `answer(sock)`; `written` counts what an answer managed to send."""

    answer: Callable[[socket.socket, Receiver], None]
    requests: list[Request] = field(default_factory=list)
    written: int = 0
    finished_at: list[float] = field(default_factory=list)  # when each answer was complete (or cut)
    done: threading.Event = field(default_factory=threading.Event)  # set after each answer
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


def _read_request(sock: socket.socket) -> Request:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the request head")
        data += chunk
    head_bytes, body = data.split(b"\r\n\r\n", 1)
    lines = head_bytes.decode("latin-1").split("\r\n")
    head = {"request-line": lines[0]}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        head[name.strip().lower()] = value.strip()
    length = int(head.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(time.monotonic(), head, body)


@contextmanager
def serve(answer: Callable[[socket.socket, Receiver], None]) -> Iterator[Receiver]:
    receiver = Receiver(answer)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            try:
                receiver.requests.append(_read_request(sock))
                receiver.answer(sock, receiver)
            except OSError:
                pass  # the client hung up: what these receivers are for
            finally:
                receiver.finished_at.append(time.monotonic())
                receiver.done.set()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", 0), Handler) as server:
        receiver.port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield receiver
        finally:
            server.shutdown()
            thread.join(timeout=5)


def answer_ok(sock: socket.socket, _: Receiver) -> None:
    sock.sendall(OK)


def answer_after(seconds: float) -> Callable[[socket.socket, Receiver], None]:
    def answer(sock: socket.socket, _: Receiver) -> None:
        time.sleep(seconds)  # the receiver's own slowness, not the test waiting
        sock.sendall(OK)

    return answer


def answer_trickling(every: float, total: float) -> Callable[[socket.socket, Receiver], None]:
    """One byte of a valid answer every `every` seconds: no single read ever waits long."""

    def answer(sock: socket.socket, receiver: Receiver) -> None:
        ends = time.monotonic() + total
        for byte in OK:
            if time.monotonic() > ends:
                return
            sock.sendall(bytes([byte]))
            receiver.written += 1
            time.sleep(every)

    return answer


def answer_huge(size: int) -> Callable[[socket.socket, Receiver], None]:
    def answer(sock: socket.socket, receiver: Receiver) -> None:
        sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n".encode())
        chunk = b"x" * 65536
        while receiver.written < size:
            sock.sendall(chunk)
            receiver.written += len(chunk)

    return answer


def answer_status(status: int) -> Callable[[socket.socket, Receiver], None]:
    def answer(sock: socket.socket, _: Receiver) -> None:
        sock.sendall(f"HTTP/1.1 {status} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())

    return answer
