"""`pricing_of`: a status's pricing and conversation read leniently, and remembered by what was read."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from wasession.domain.pricing import NO_PRICING
from wasession.whatsapp import pricing
from wasession.whatsapp.pricing import pricing_of


def _status(**parts: Any) -> dict[str, Any]:
    return {"id": "wamid.1", "status": "sent", **parts}


def test_a_status_pricing_and_conversation_are_read() -> None:
    found = pricing_of(
        _status(
            pricing={"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"},
            conversation={"id": "c1", "origin": {"type": "service"}, "expiration_timestamp": "1767225600"},
        )
    )
    assert (found.pricing_model, found.category, found.pricing_type, found.billable) == (
        "PMP",
        "utility",
        "regular",
        True,
    )
    assert (found.conversation_id, found.origin_type) == ("c1", "service")
    assert found.expires_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert pricing_of(_status()) == NO_PRICING


def test_the_same_pricing_again_is_the_same_record_and_a_different_one_is_not() -> None:
    body = {"billable": False, "pricing_model": "PMP", "category": "service", "type": "free_customer_service"}
    first = pricing_of(_status(pricing=dict(body)))
    assert pricing_of(_status(pricing=dict(body))) is first
    other = pricing_of(_status(pricing={**body, "category": "utility"}))
    assert other.category == "utility" and first.category == "service"


@pytest.mark.parametrize("lookalike", [1, 0, 1.0, "true"])
def test_a_billable_that_is_not_a_bool_is_never_read_as_one_even_after_the_bool(lookalike: object) -> None:
    """1 == True in Python: remembered records must not make a 1 read as True (nor 0 as False)."""
    pricing_of(_status(pricing={"billable": True, "category": "utility"}))
    pricing_of(_status(pricing={"billable": False, "category": "utility"}))
    assert pricing_of(_status(pricing={"billable": lookalike, "category": "utility"})).billable is None


def test_an_expiry_given_as_a_number_is_read_as_the_same_instant_as_its_string() -> None:
    as_string = pricing_of(_status(conversation={"id": "c2", "expiration_timestamp": "1767225600"}))
    as_number = pricing_of(_status(conversation={"id": "c2", "expiration_timestamp": 1767225600}))
    assert as_number.expires_at == as_string.expires_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert pricing_of(_status(conversation={"id": "c2", "expiration_timestamp": True})).expires_at is None


def test_an_unknown_value_is_logged_once_however_often_it_comes(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="wasession.whatsapp.pricing")
    new = f"category_{uuid.uuid4().hex[:8]}"  # never seen by this process before
    for _ in range(3):
        found = pricing_of(_status(pricing={"category": new}))
    assert found.category == new
    assert len([r for r in caplog.records if new in r.getMessage()]) == 1


def test_what_is_remembered_stays_bounded() -> None:
    for n in range(pricing.SEEN_LIMIT + 10):
        assert pricing_of(_status(conversation={"id": f"conv-{n}"})).conversation_id == f"conv-{n}"
    assert len(pricing._seen) <= pricing.SEEN_LIMIT
