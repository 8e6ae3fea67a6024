"""Cost of one bad-signature webhook POST and one handshake GET, with 4 and with 1,004 channels.

Run: .venv/bin/python bench/bad_signature_cost.py [--posts 200]
In-process (the Simulator's app over ASGI), SQLite. Ingest reads only the secrets of the channels a
body addresses, and the handshake decrypts a verify token only when its row changed, so the figures
for 4 and 1,004 channels should be alike.
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


def measure(channels: int, posts: int) -> tuple[float, float, float]:
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
    return statistics.median(post_ms), statistics.median(check_ms), statistics.median(get_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=200)
    args = parser.parse_args()
    for channels in (4, 1004):
        post, check, get = measure(channels, args.posts)
        print(
            f"{channels:>5} channels: bad-signature POST {post:.2f} ms (signature check alone {check:.3f} ms), "
            f"handshake GET {get:.2f} ms  (medians)"
        )


if __name__ == "__main__":
    main()
