"""The fake prices each send as Meta's calendar says on the fake's own clock (docs/rules.md R23)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber

PNID, TOKEN, ANA = "106540352242922", "EAAG-token", "16505551234"
BEFORE = datetime(2026, 9, 30, 23, 59, 59, tzinfo=UTC)
FROM = datetime(2026, 10, 1, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


TEXT = {"type": "text", "text": {"body": "Still there?"}}


def template(name: str) -> dict[str, Any]:
    return {"type": "template", "template": {"name": name, "language": {"code": "en_US"}}}


def priced(at: datetime, message: dict[str, Any], *, window_open: bool = True) -> dict[str, Any]:
    fake = FakeCloudApi(Clock(at))
    fake.register(FakeNumber(PNID, TOKEN, "secret"))
    if window_open:
        fake.customer_wrote(PNID, ANA, at - timedelta(hours=1))
    with TestClient(fake.app) as http:
        answer = http.post(
            f"/v23.0/{PNID}/messages",
            json={"messaging_product": "whatsapp", "to": ANA, **message},
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
    assert answer.status_code == 200, answer.text
    sent = fake.due_webhooks(at)[0].body["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert sent["status"] == "sent"
    pricing: dict[str, Any] = sent["pricing"]
    return pricing


@pytest.mark.parametrize(
    ("at", "message", "expected"),
    [
        (BEFORE, TEXT, (False, "free_customer_service", "service")),
        (FROM, TEXT, (True, "regular", "service")),
        (BEFORE, template("order_update"), (False, "free_customer_service", "utility")),
        (FROM, template("order_update"), (True, "regular", "utility")),
        # A marketing template was never free; its category comes from the fake's template list.
        (BEFORE, template("follow_up"), (True, "regular", "marketing")),
        (FROM, template("follow_up"), (True, "regular", "marketing")),
    ],
)
def test_in_window_pricing_follows_the_date_of_the_fakes_clock(
    at: datetime, message: dict[str, Any], expected: tuple[bool, str, str]
) -> None:
    pricing = priced(at, message)
    assert (pricing["billable"], pricing["type"], pricing["category"]) == expected


def test_a_template_outside_the_window_is_billed_at_any_date() -> None:
    pricing = priced(BEFORE, template("order_update"), window_open=False)
    assert (pricing["billable"], pricing["type"], pricing["category"]) == (True, "regular", "utility")
