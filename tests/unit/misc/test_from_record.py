"""API models are filled from the services' dataclasses by field name (issue 24: each fact once)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from wasession.api.v1.schemas import ApiKeyOut, ChannelOut, from_record


@dataclass(frozen=True)
class _Key:
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    secret_hash: str  # a record may hold more than the model shows: never copied


def test_a_model_takes_each_of_its_fields_from_the_record_and_nothing_else() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    out = from_record(ApiKeyOut, _Key(3, "crm", "wsk_ab", at, None, None, "hash"))
    assert out.model_dump() == {
        "id": 3,
        "name": "crm",
        "prefix": "wsk_ab",
        "created_at": at,
        "last_used_at": None,
        "revoked_at": None,
    }


def test_a_given_value_wins_over_the_records() -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    out = from_record(ApiKeyOut, _Key(3, "crm", "wsk_ab", at, None, None, "hash"), name="shown")
    assert out.name == "shown"


def test_a_required_field_the_record_lacks_is_named() -> None:
    with pytest.raises(AttributeError, match="_Key has no 'phone_number_id' for ChannelOut"):
        from_record(ChannelOut, _Key(3, "crm", "wsk_ab", datetime(2026, 12, 6, tzinfo=UTC), None, None, "hash"))
