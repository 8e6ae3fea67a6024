"""R23: the fake prices as Meta does on the date of its own clock: service replies free until 30 September
2026, billed from 1 October 2026; the free entry point window stays free."""

from __future__ import annotations

from tests.support.money import Money
from wasession.testing.harness import served

ANA, BEN, CAROL = "15550001111", "15550002222", "15550003333"


def test_a_reminder_in_september_is_free_and_one_in_november_is_billed(money: Money) -> None:
    sim = money.sim
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="2h")
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("3h")
    sim.run_until("2026-11-10T09:00:00Z")
    sim.customer_message(ch, wa_id=BEN, name="Ben")
    sim.advance("3h")
    september, november = sim.usage(ch, "2026-09"), sim.usage(ch, "2026-11")
    assert [(p.category, p.type, p.automated) for p in september.priced] == [("service", "free_customer_service", 1)]
    assert [(p.category, p.type, p.automated) for p in november.priced] == [("service", "regular", 1)]
    with served(sim) as url:
        over_http = money.usage(url, ch.id, "2026-11")
        before = money.usage(url, ch.id, "2026-09")
    assert [(p["category"], p["type"], p["automated"]) for p in over_http["priced"]] == [("service", "regular", 1)]
    assert [(p["category"], p["type"]) for p in before["priced"]] == [("service", "free_customer_service")]


def test_the_free_entry_point_window_stays_free_after_october(money: Money) -> None:
    sim = money.sim
    sim.run_until("2026-10-01T00:00:00Z")
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="48h")
    sim.entry_point(ch, CAROL)
    sim.customer_message(ch, wa_id=CAROL, name="Carol")
    sim.advance("1h10s")
    [line] = sim.usage(ch, "2026-10").priced
    assert (line.category, line.type) == ("referral_conversion", "free_entry_point")
