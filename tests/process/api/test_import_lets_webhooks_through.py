"""Issue 25, finding 5, through a real `serve` on SQLite: a 10,000-row contacts import no longer holds the
one writer while Meta waits. On edca2c2 the import was one transaction and webhooks waited 2.5-3.2 s for
their 200; now it writes in transactions of TRANSACTION_SECONDS and an ack waits at most one of them
(the bound below leaves room for a loaded machine)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.support.tenants import tenant_env, two_tenants

ROWS = 10_000


def test_webhooks_are_answered_promptly_while_a_large_import_runs(tmp_path: Path) -> None:
    # Numbers apart from the webhook customer's (4915100000001), whose message may create that contact first.
    csv = "wa_id,first_name,last_name,email\n" + "".join(
        f"49152{n:08d},First{n},Last{n},p{n}@example.com\n" for n in range(ROWS)
    )
    with two_tenants(tmp_path, tenant_env(tmp_path)) as tenants:
        a = tenants["a"]
        a.post_webhook(*a.body("warm up"))
        answer: list[httpx.Response] = []
        importing = threading.Thread(
            target=lambda: answer.append(
                a.call("POST", "/contacts/import", content=csv.encode(), headers={"Content-Type": "text/csv"})
            )
        )
        importing.start()
        waits: list[float] = []
        while importing.is_alive():
            body = a.body(f"during the import {len(waits)}")
            began = time.monotonic()
            a.post_webhook(*body)
            waits.append(time.monotonic() - began)
        importing.join()
    assert answer[0].status_code == 200, answer[0].text
    assert answer[0].json()["created"] == ROWS
    assert len(waits) >= 3, waits  # the import took long enough to be measured against
    assert max(waits) < 2.0, sorted(waits)[-5:]  # edca2c2: 2.5-3.2 s idle, 11 s on the loaded test machine
