"""R23: usage per calendar month of the channel's time zone, and the automated monthly cap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wasession.services.errors import ValidationError
from wasession.testing import Simulator

ANA, BEN, CAROL, DAN = "15550001111", "15550002222", "15550003333", "15550004444"


@pytest.fixture
def month_end(sim_database_url: str | None) -> Iterator[Simulator]:
    # 20:00 UTC on 31 January is 17:00 in São Paulo (UTC-3, no daylight saving since 2019).
    with Simulator(start="2026-01-31T20:00:00Z", database_url=sim_database_url) as s:
        yield s


def test_usage_counts_by_the_channels_calendar_month_not_utcs(month_end: Simulator) -> None:
    sim = month_end
    ch = sim.add_channel(
        reminder_enabled=True, reminder_after_hours=1, session_timeout="48h", timezone="America/Sao_Paulo"
    )
    sim.customer_message(ch, wa_id=ANA, name="Ana")  # reminder 21:00Z = 18:00 local, 31 Jan
    sim.run_until("2026-02-01T01:30:00Z")
    sim.customer_message(ch, wa_id=BEN, name="Ben")  # reminder 02:30Z = 23:30 local, still 31 Jan
    sim.run_until("2026-02-01T03:30:00Z")
    sim.customer_message(ch, wa_id=CAROL, name="Carol")  # reminder 04:30Z = 01:30 local, 1 Feb
    sim.run_until("2026-02-01T06:00:00Z")
    january, february = sim.usage(ch, "2026-01"), sim.usage(ch, "2026-02")
    assert (january.automated_sent, february.automated_sent) == (2, 1)
    assert january.human_sent == 0
    assert str(january.starts_at) == "2026-01-01 03:00:00+00:00" and str(january.ends_at) == "2026-02-01 03:00:00+00:00"
    [line] = january.priced  # from the fake's statuses, as Meta prices a service reply in the window
    assert (line.category, line.type, line.automated, line.human) == ("service", "free_customer_service", 2, 0)
    assert [(p.category, p.automated) for p in february.priced] == [("service", 1)]
    assert sim.usage(ch).month == "2026-02"  # the current month, on the channel's clock
    assert sim.usage(ch, "2026-03").automated_sent == 0


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "26-01", "January", "2026-00", "", "²⁰²⁶-01", "1969-12"])
def test_a_bad_month_names_the_field(sim: Simulator, bad: str) -> None:
    ch = sim.add_channel()
    with pytest.raises(ValidationError) as caught:
        sim.usage(ch, bad)
    assert caught.value.field == "month" and "YYYY-MM" in caught.value.message


def metric(sim: Simulator, line_start: str) -> float:
    text = sim.client.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))


def test_the_cap_skips_the_cap_plus_first_automated_send_and_allows_it_next_month(sim: Simulator) -> None:
    capped_before = metric(sim, 'wasession_automated_capped_total{kind="reminder"}')
    priced = 'wasession_outbound_priced_total{category="service",sender="automated",type="free_customer_service"}'
    priced_before = metric(sim, priced)
    sim.run_until("2026-01-30T10:00:00Z")
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="2h", automated_monthly_cap=2)
    for user in (ANA, BEN, CAROL):
        sim.customer_message(ch, wa_id=user, name=user)
        sim.advance("3h")
    assert len(sim.outbox(ch)) == 2
    carol = sim.session(ch, wa_id=CAROL)
    assert carol.reminder_state == "skipped" and carol.reminder_reason == "monthly_cap"
    skipped = [e for e in sim.timeline(carol) if e.type == "reminder_skipped"]
    assert [e.data["reason"] for e in skipped] == ["monthly_cap"]
    usage = sim.usage(ch, "2026-01")
    assert (usage.automated_sent, usage.automated_capped, usage.automated_remaining) == (2, 1, 0)
    # Prometheus counters are per process: other tests in this worker moved them too, so compare deltas.
    assert metric(sim, 'wasession_automated_capped_total{kind="reminder"}') - capped_before == 1
    assert metric(sim, priced) - priced_before == 2
    sim.run_until("2026-02-01T00:00:00Z")
    sim.customer_message(ch, wa_id=DAN, name="Dan")
    sim.advance("1h")
    assert len(sim.outbox(ch)) == 3  # a new month, a new allowance
    assert sim.usage(ch, "2026-02").automated_sent == 1


def test_a_cap_of_zero_sends_nothing_automated_and_none_caps_nothing(sim: Simulator) -> None:
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="2h", automated_monthly_cap=0)
    sim.customer_message(ch, wa_id=ANA, name="Ana")
    sim.advance("3h")
    assert sim.outbox(ch) == [] and sim.session(ch, wa_id=ANA).reminder_reason == "monthly_cap"
    sim.update_policy(ch, automated_monthly_cap=None)
    sim.customer_message(ch, wa_id=BEN, name="Ben")
    sim.advance("3h")
    assert len(sim.outbox(ch)) == 1


def test_the_cap_setting_is_validated(sim: Simulator) -> None:
    ch = sim.add_channel()
    for bad in (-1, "many", 2.5, True):
        with pytest.raises(ValidationError) as caught:
            sim.update_policy(ch, automated_monthly_cap=bad)
        assert caught.value.field == "automated_monthly_cap"
    assert sim.channel(ch).policy.automated_monthly_cap is None
    sim.update_policy(ch, automated_monthly_cap="5")
    assert sim.channel(ch).policy.automated_monthly_cap == 5
