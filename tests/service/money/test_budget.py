"""R23: `automated_monthly_budget` skips the automated send whose estimated cost would pass it."""

from __future__ import annotations

import httpx
import pytest

from tests.support.money import Money
from wasession.domain.errors import ValidationError
from wasession.services import rates as rates_service
from wasession.testing.harness import served

CARD = "calling_code,category,price,currency\n1,service,0.0100,USD\n*,service,0.0200,USD\n"
ANA, BEN, CAROL, DAN, EVE = "15550001111", "15550002222", "15550003333", "15550004444", "US.99887766"


def test_the_budget_skips_the_send_that_would_pass_it(money: Money) -> None:
    sim = money.sim
    sim.run_until("2026-11-02T09:00:00Z")
    rates_service.import_rate_card(sim.runtime.ctx, money.workspace_id, CARD)
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="2h")
    with served(sim) as url:
        saved = httpx.put(
            f"{url}/api/v1/channels/{ch.id}/policy", json={"automated_monthly_budget": "0.025"}, headers=money.headers
        )
        assert saved.status_code == 200, saved.text
        assert saved.json()["policy"]["automated_monthly_budget"] == "0.025"
        for user in (ANA, BEN, CAROL):  # 0.01 each: the third would make 0.03 > 0.025
            sim.customer_message(ch, wa_id=user, name=user)
            sim.advance("90m")
        # A BSUID-only customer's send cannot be priced, so the budget cannot hold it back.
        sim.customer_message(ch, user_id=EVE, name="Eve")
        sim.advance("90m")
        usage = money.usage(url, ch.id, "2026-11")
    assert len(sim.outbox(ch)) == 3
    carol = sim.session(ch, wa_id=CAROL)
    assert (carol.reminder_state, carol.reminder_reason) == ("skipped", "monthly_budget")
    assert [e.data["reason"] for e in sim.timeline(carol) if e.type == "reminder_skipped"] == ["monthly_budget"]
    assert (usage["automated_monthly_budget"], usage["automated_over_budget"]) == ("0.025", 1)
    assert usage["automated_cost"]["estimated_cost"] == {"amount": "0.02", "currency": "USD"}
    assert usage["automated_cost"]["unknown_market"] == 1
    sim.run_until("2026-12-01T09:00:00Z")  # a new month, a new budget
    sim.customer_message(ch, wa_id=DAN, name="Dan")
    sim.advance("90m")
    assert sim.session(ch, wa_id=DAN).reminder_reason is None and len(sim.outbox(ch)) == 4


@pytest.mark.parametrize("bad", [-1, "-0.5", "lots", True, "1.00001", "1e12"])
def test_the_budget_setting_is_validated(money: Money, bad: object) -> None:
    sim = money.sim
    ch = sim.add_channel()
    with pytest.raises(ValidationError) as caught:
        sim.update_policy(ch, automated_monthly_budget=bad)
    assert caught.value.field == "automated_monthly_budget"
    assert sim.channel(ch).policy.automated_monthly_budget is None
