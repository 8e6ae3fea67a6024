"""A client that goes away mid-request costs at most one quiet log line, never an ERROR traceback."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.support.processes import wait_until
from tests.support.security import Server, healthy

CLIENTS = 20


def records(server: Server) -> list[dict[str, object]]:
    out = []
    for line in server.log().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def test_disconnect_mid_body_logs_no_traceback(start_server: Callable[..., Server]) -> None:
    server = start_server(WASESSION_LOG_LEVEL="DEBUG")
    logged_before = len(records(server))
    for _ in range(CLIENTS):
        with server.connect() as sock:
            sock.sendall(
                b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"X-Hub-Signature-256: sha256=00\r\nContent-Length: 100000\r\n\r\n"
                b'{"object": "whatsapp_business_account"'
            )

    def settled() -> bool:
        new = records(server)[logged_before:]
        gone = [r for r in new if "went away" in str(r.get("msg"))]
        return len(gone) >= CLIENTS or any(r.get("level") == "error" for r in new)

    wait_until("the server to notice every disconnect", settled, 15)
    assert healthy(server.url)
    new = records(server)[logged_before:]
    errors = [r for r in new if r.get("level") in ("error", "critical") or "exc" in r]
    assert not errors, json.dumps(errors[:1], indent=1)[:3000]
    about = [r for r in new if "/webhooks/whatsapp" in str(r.get("msg"))]
    assert len(about) <= CLIENTS, about[:3]
    assert all(r.get("level") in ("debug", "info") for r in about)
