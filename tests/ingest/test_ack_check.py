"""The ack path's fast signature check: a cached secret of a number the body names must sign the
raw bytes; anything else falls back to the full per-change check (which reads the rows)."""

from __future__ import annotations

import json

from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.testing import Simulator
from wasession.whatsapp.signature import sign


def test_only_a_cached_secret_of_a_named_number_that_signs_the_bytes_passes() -> None:
    with Simulator() as sim:
        mine = sim.add_channel()
        pnid = mine.phone_number_id
        message = text_message_body(
            phone_number_id=pnid, wa_id="4911", name="A", text="hi", timestamp=sim.now, wamid=new_wamid("4911")
        )
        raw = json.dumps(message).encode()
        credentials = sim.runtime.ingestor.credentials
        assert not credentials.signed_by_cached(raw, sign(sim.app_secret, raw))  # nothing cached yet
        sim.customer_message(mine, wa_id="4900")  # the full check reads and caches the secret
        assert credentials.signed_by_cached(raw, sign(sim.app_secret, raw))
        assert not credentials.signed_by_cached(raw, sign("another-secret", raw))
        assert not credentials.signed_by_cached(raw, None)
        tampered = raw.replace(b'"hi"', b'"hi!"')
        assert not credentials.signed_by_cached(tampered, sign(sim.app_secret, raw))
        # A number only mentioned in free text selects nothing the body's signer does not hold.
        other = raw.replace(pnid.encode(), b"999999999999")
        assert not credentials.signed_by_cached(other, sign("attacker", other))
        credentials.invalidate()
        assert not credentials.signed_by_cached(raw, sign(sim.app_secret, raw))
        # Through the endpoint, the fallback still answers.
        assert sim.post_webhook(raw).status_code == 200
