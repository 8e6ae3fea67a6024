"""R23 through the entry points a CRM admin uses: `wasession rates import` on a running `serve`, the
sandbox customer writing, the automated reminder (a service message, billed since 2026-10-01) sent to the
built-in fake, its priced statuses applied in serve's apply process, and the estimated cost read at
serve's /metrics on a real port: counted once, by the customer's market."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.processes import HTTP, cli_env, run_cli, server_log, serving, wait_until
from wasession.domain.states import MessageKind, MessageStatus

SPEED = "300"  # the sandbox policy's 1-hour reminder 12 s after the message (tests/process/e2e/test_readme_loop.py)
DEADLINE = 120.0  # real seconds, on a loaded machine
# The sandbox customer (15550001111) is in calling code 1; the fallback row must not be the one used.
CARD = "calling_code,category,price,currency\n1,service,0.0035,USD\n*,service,0.5,USD\n"
COST = 'wasession_estimated_cost_total{category="service",currency="USD",sender="automated"}'


def _metric(url: str, name: str) -> float:
    text = HTTP.get(url + "/metrics", timeout=10).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    return values[0] if values else 0.0


def test_an_imported_rate_card_prices_the_sandbox_reminder_once_at_serves_metrics(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    card = tmp_path / "card.csv"
    card.write_text(CARD)
    with serving(tmp_path, "--sandbox-speed", SPEED, env=env) as url:
        imported = run_cli(tmp_path, "rates", "import", str(card), env=env)
        assert imported.returncode == 0, imported.stderr
        key = run_cli(tmp_path, "apikeys", "create", "--name", "billing", env=env).stdout.strip()
        said = run_cli(tmp_path, "sandbox", "message", "--url", url, "Hi", env=env)
        assert said.returncode == 0, said.stderr
        headers = {"Authorization": f"Bearer {key}"}

        def reminder_delivered() -> bool:
            items = HTTP.get(url + "/api/v1/sessions", headers=headers, timeout=10).json()["items"]
            if not items:
                return False
            detail = HTTP.get(f"{url}/api/v1/sessions/{items[0]['id']}", headers=headers, timeout=10).json()
            return any(
                m["kind"] == MessageKind.REMINDER and m["status"] in (MessageStatus.DELIVERED, MessageStatus.READ)
                for m in detail["transcript"]
            )

        try:
            # `sent` and `delivered` both carry the pricing: by then the cost was seen twice.
            wait_until("the sandbox reminder delivered", reminder_delivered, DEADLINE, every=0.2)
            wait_until("the reminder's estimated cost at /metrics", lambda: _metric(url, COST) > 0, 30, every=0.2)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{server_log(tmp_path)}") from exc
        assert _metric(url, COST) == pytest.approx(0.0035)
