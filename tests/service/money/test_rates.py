"""R23: a workspace's rate card turns what Meta said was billable into money, by the recipient's market."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.support.money import Money
from wasession.cli import main
from wasession.domain.errors import ValidationError
from wasession.domain.rates import parse_rate_card
from wasession.services import rates as rates_service
from wasession.testing.harness import served

US, BRAZIL, JAMAICA, GERMANY, BSUID = "15550001111", "5511987654321", "18765550000", "4915112345678", "US.1349120865"

# Meta's rate card as downloaded from its pricing page (a title line, a header, a row per market; prices
# with a currency sign, `n/a` where a market has no such rate). The figures are invented for the test.
META_CARD = """WhatsApp Business Platform - per-message rates (USD),,,,,,
Market,Currency,Marketing,Utility,Authentication,Authentication-International,Service
Brazil,USD,$0.0625,$0.0068,$0.0068,n/a,$0.0070
North America,USD,$0.0250,$0.0034,$0.0034,n/a,$0.0035
Rest of Latin America,USD,$0.0740,$0.0113,$0.0113,n/a,
Other,USD,$0.0604,$0.0077,$0.0077,n/a,$0.0080
"""
LONG_CARD = """calling_code,category,price,currency
1,service,0.0035,USD
55,service,0.0070,USD
*,service,0.0080,USD
1,utility,0.0034,USD
"""


def test_meta_card_markets_become_calling_codes_and_the_longest_prefix_wins() -> None:
    card = parse_rate_card(META_CARD)
    assert card.currency == "USD"
    assert card.price(US, "service") == Decimal("0.0035")
    assert card.price(BRAZIL, "service") == Decimal("0.0070")
    # +1 876 is Jamaica, in "Rest of Latin America", not North America; no service column: utility's rate.
    assert card.price(JAMAICA, "service") == Decimal("0.0113")
    assert card.price(GERMANY, "marketing") == Decimal("0.0604")  # "Other"
    assert card.price(None, "service") is None  # a BSUID: no calling code, no market
    assert card.price(US, "authentication-international") is None  # n/a
    assert parse_rate_card(LONG_CARD).price(GERMANY, "service") == Decimal("0.0080")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (LONG_CARD + "44,service,-0.01,USD\n", "line 6, column 3 (price): a price cannot be negative"),
        (LONG_CARD + "44,sms,0.01,USD\n", "line 6, column 2 (category): unknown category 'sms'"),
        (LONG_CARD + "44,service,0.01,EUR\n", "line 6, column 4 (currency): one card has one currency"),
        (LONG_CARD + "55,service,0.01,USD\n", "line 6, column 1 (calling_code): service for +55 is priced twice"),
        (LONG_CARD + "44,service,cheap,USD\n", "line 6, column 3 (price): 'cheap' is not a price"),
        (META_CARD + "Atlantis,USD,1,1,1,1,1\n", "line 7, column 1 (Market): unknown market 'Atlantis'"),
        (META_CARD.replace("North America,USD", "North America,EUR"), "line 4, column 2 (Currency)"),
        (META_CARD.replace("$0.0068,$0.0068", "$0.0068,-$0.0068"), "line 3, column 5 (Authentication)"),
        ("hello\n", "no header found"),
        ("\r0", "no header found"),
        ("calling_code,category,price,currency\n" + "9" * 200_000, "not CSV: field larger than field limit"),
    ],
)
def test_a_wrong_card_is_refused_naming_line_and_column(text: str, where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_rate_card(text)
    assert caught.value.field == "rates" and where in caught.value.message


def _month_of_reminders(money: Money) -> int:
    """November 2026 (service replies billed): one reminder each to a US number, a Brazilian number and
    a customer known only by a BSUID."""
    sim = money.sim
    sim.run_until("2026-11-02T09:00:00Z")
    ch = sim.add_channel(reminder_enabled=True, reminder_after_hours=1, session_timeout="2h")
    sim.customer_message(ch, wa_id=US, name="Ana")
    sim.customer_message(ch, wa_id=BRAZIL, name="Bia")
    sim.customer_message(ch, user_id=BSUID, name="Cy")
    sim.advance("3h")
    return ch.id


def test_a_rate_card_turns_a_month_of_usage_into_money(money: Money) -> None:
    channel_id = _month_of_reminders(money)
    sim = money.sim
    assert sim.usage(channel_id, "2026-11").estimated_cost is None  # no card yet: no money, not zero
    with served(sim) as url:
        bad = httpx.put(f"{url}/api/v1/rates", content=LONG_CARD + "44,service,-1,USD\n", headers=money.headers)
        missing = httpx.get(f"{url}/api/v1/rates", headers=money.headers)
        put = httpx.put(f"{url}/api/v1/rates", content=META_CARD, headers={**money.headers, "Content-Type": "text/csv"})
        shown = httpx.get(f"{url}/api/v1/rates", headers=money.headers).json()
        usage = money.usage(url, channel_id, "2026-11")
        september = money.usage(url, channel_id, "2026-09")
        anonymous = httpx.put(f"{url}/api/v1/rates", content=LONG_CARD)
    assert bad.status_code == 422 and "line 6, column 3" in bad.json()["error"]["message"]
    assert missing.status_code == 404  # the refused card changed nothing
    assert put.status_code == 200, put.text
    assert anonymous.status_code == 401
    assert (
        shown["currency"] == "USD" and {"calling_code": "1", "category": "service", "price": "0.0035"} in shown["rates"]
    )
    # 0.0035 (US) + 0.0070 (Brazil); the BSUID-only customer's market is unknown, and the cost says so.
    assert usage["estimated_cost"] == {"amount": "0.0105", "currency": "USD"}
    assert usage["cost"] == {
        "estimated_cost": {"amount": "0.0105", "currency": "USD"},
        "priced": 2,
        "unknown_market": 1,
        "no_rate": 0,
    }
    [line] = usage["priced"]
    assert (line["category"], line["type"], line["automated"]) == ("service", "regular", 3)
    assert line["estimated_cost"] == {"amount": "0.0105", "currency": "USD"}
    assert september["estimated_cost"] == {"amount": "0.00", "currency": "USD"}


def test_rates_import_from_the_command_line(money: Money, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sim = money.sim
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASESSION_HOME", str(tmp_path))
    monkeypatch.setenv("WASESSION_DATABASE_URL", money.database_url)
    monkeypatch.delenv("WASESSION_SECRET_KEY", raising=False)
    card, wrong = tmp_path / "rates.csv", tmp_path / "wrong.csv"
    card.write_text(LONG_CARD)
    wrong.write_text(LONG_CARD.replace("0.0070,USD", "0.0070,BRL"))
    runner = CliRunner()
    refused = runner.invoke(main, ["rates", "import", str(wrong)])
    assert refused.exit_code == 1 and "line 3, column 4 (currency)" in refused.output
    assert rates_service.rate_card(sim.runtime.ctx, money.workspace_id) is None
    done = runner.invoke(main, ["rates", "import", str(card)])
    assert done.exit_code == 0, done.output
    assert "4 rates, 3 calling codes, USD" in done.output
    shown = runner.invoke(main, ["rates", "show"])
    assert "*,service,0.0080,USD" in shown.output


def metric(sim_text: str, line_start: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in sim_text.splitlines() if line.startswith(line_start))


def test_prometheus_counts_the_estimated_cost_and_what_it_could_not_price(money: Money) -> None:
    sim = money.sim
    rates_service.import_rate_card(sim.runtime.ctx, money.workspace_id, META_CARD)
    cost = 'wasession_estimated_cost_total{category="service",currency="USD",sender="automated"}'
    unknown = 'wasession_billable_unpriced_total{reason="unknown_market"}'
    before = sim.client.get("/metrics").text
    _month_of_reminders(money)
    after = sim.client.get("/metrics").text
    assert metric(after, cost) - metric(before, cost) == pytest.approx(0.0105)
    assert metric(after, unknown) - metric(before, unknown) == 1
