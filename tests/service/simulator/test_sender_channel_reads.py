"""The sender reads each claimed channel's row every round but parses its policy and decrypts its
secrets again only when they changed: a credential rotated or a policy saved through the services
counts for the very next send."""

from __future__ import annotations

import dataclasses

from wasession.sandbox.fake_cloud import FakeNumber
from wasession.services import channels as channel_service
from wasession.testing import Simulator


def test_a_rotated_access_token_is_used_by_the_next_send_and_unchanged_rows_are_not_rebuilt(sim: Simulator) -> None:
    ch = sim.add_channel()
    cache = sim.runtime.sender.channels
    for n in range(3):
        sim.customer_message(ch, wa_id=f"4930{n}")
        sim.agent_message(ch, wa_id=f"4930{n}", text=f"reply {n}")
        sim.run_due()
    assert len(sim.outbox(ch)) == 3
    built = cache.rebuilds
    assert built == 2  # the channel and its secrets, once each for three rounds

    number = sim.fake._numbers[ch.phone_number_id]
    sim.fake.register(dataclasses.replace(number, access_token="rotated-token"))  # Meta issued a new token
    channel_service.update_credentials(sim.runtime.ctx, ch.id, access_token="rotated-token")
    sim.customer_message(ch, wa_id="49309")
    sim.agent_message(ch, wa_id="49309", text="after the rotation")
    sim.run_due()
    assert [m.body for m in sim.outbox(ch)][-1] == "after the rotation"  # the fake refuses the old token
    assert cache.rebuilds == built + 1  # the secrets decrypted again; the channel's row was not changed


def test_a_number_unknown_to_the_fake_is_a_test_of_the_test(sim: Simulator) -> None:
    """Without the new token the fake refuses the send: the test above proves the new token was sent."""
    ch = sim.add_channel()
    number = sim.fake._numbers[ch.phone_number_id]
    sim.fake.register(FakeNumber(number.phone_number_id, "another-token", number.app_secret))
    sim.customer_message(ch, wa_id="49310")
    sim.agent_message(ch, wa_id="49310", text="refused")
    sim.run_due()
    assert sim.outbox(ch) == []
