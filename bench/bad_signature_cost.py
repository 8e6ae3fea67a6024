"""Cost of one bad-signature webhook POST and one handshake GET, with 4 and with 1,004 channels.

Run: .venv/bin/python bench/bad_signature_cost.py [--posts 200] [--quick]
In-process (the Simulator's app over ASGI), SQLite. The ack tries one HMAC per distinct app secret of
the numbers a body names, and the handshake decrypts a verify token only when its row changed, so the
figures for 4 and 1,004 channels should be alike. Issue 25 (finding 3) adds two bodies an outsider can
send unsigned: 3 MB naming 102 numbers (refused before any HMAC: 0 HMACs, a few ms) and one naming a
number no channel has (1,004 channels, each its own Meta app: more distinct secrets than
WASESSION_WEBHOOK_UNROUTED_SECRETS, so 0 HMACs; with 4 channels, 4 distinct secrets: 4 HMACs).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from wasession.sandbox.bodies import text_message_body
from wasession.services import channels as channel_service
from wasession.testing import Simulator
from wasession.whatsapp.signature import SIGNATURE_HEADER, sign


def costly_bodies(sim: Simulator, posts: int) -> str:
    """The median time and HMACs of the gate's check for the two unsigned bodies of issue 25."""
    gate = sim.runtime.ingestor.gate
    changes = [
        {"field": "messages", "value": {"metadata": {"phone_number_id": str(10**14 + n)}, "pad": "x" * 28_000}}
        for n in range(102)
    ]
    many = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": changes}]}).encode()
    unknown = json.dumps(
        text_message_body(phone_number_id="155500000001", wa_id="1", name="x", text="hi", timestamp=sim.now)
    ).encode()
    parts = []
    for name, raw in (("3 MB naming 102 numbers", many), ("an unknown number", unknown)):
        before = gate.hmacs
        took: list[float] = []
        for _ in range(max(posts // 10, 3)):
            started = time.perf_counter()
            assert not gate.judge(raw, "sha256=" + "0" * 64).accepted
            took.append((time.perf_counter() - started) * 1000)
        hmacs = (gate.hmacs - before) / len(took)
        parts.append(f"{name}: {statistics.median(took):.2f} ms, {hmacs:g} HMACs")
    return "; ".join(parts)


def measure(channels: int, posts: int) -> tuple[float, float, float, str]:
    with Simulator() as sim:
        first = sim.add_channel()
        for n in range(channels - 1):
            channel_service.create_channel(
                sim.runtime.ctx,
                channel_service.NewChannel(f"c{n}", str(500000000 + n), "tok", f"secret-{n}", f"verify-{n}"),
                max_channels=channels + 1,
            )
        raw = json.dumps(
            text_message_body(phone_number_id=first.phone_number_id, wa_id="1", name="x", text="hi", timestamp=sim.now)
        ).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign("not-the-secret", raw)}
        post_ms: list[float] = []
        for _ in range(posts):
            started = time.perf_counter()
            assert sim.client.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 403
            post_ms.append((time.perf_counter() - started) * 1000)
        check_ms: list[float] = []
        for _ in range(posts):
            started = time.perf_counter()
            assert not sim.runtime.ingestor.gate.judge(raw, headers[SIGNATURE_HEADER]).accepted
            check_ms.append((time.perf_counter() - started) * 1000)
        params = {"hub.mode": "subscribe", "hub.challenge": "42", "hub.verify_token": "verify-0"}
        sim.client.get("/webhooks/whatsapp", params=params)  # the first decrypts every token once
        get_ms: list[float] = []
        for _ in range(max(posts // 10, 5)):
            started = time.perf_counter()
            assert sim.client.get("/webhooks/whatsapp", params=params).text == "42"
            get_ms.append((time.perf_counter() - started) * 1000)
        costly = costly_bodies(sim, posts)
    return statistics.median(post_ms), statistics.median(check_ms), statistics.median(get_ms), costly


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a few posts, 104 channels: checks that it runs")
    args = parser.parse_args()
    posts = 10 if args.quick else args.posts
    for channels in (4, 104) if args.quick else (4, 1004):
        post, check, get, costly = measure(channels, posts)
        print(
            f"{channels:>5} channels: bad-signature POST {post:.2f} ms (signature check alone {check:.3f} ms), "
            f"handshake GET {get:.2f} ms  (medians); unsigned {costly}"
        )


if __name__ == "__main__":
    main()
