"""Random, truncated and wrongly-typed JSON, correctly signed, at the real webhook endpoint: never a 5xx.

The parser has its own fuzz test (tests/whatsapp); this one runs the whole path (signature, raw
log, ingest, sessions) so a crash anywhere behind the parser shows up too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.conftest import DATA
from wasession.store.schema import webhook_log
from wasession.testing import Simulator

PNID = "106540352242922"

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["whatsapp_business_account", "messages", PNID, "1767225600", "text", "sent", "read"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(
                [
                    "object",
                    "entry",
                    "changes",
                    "value",
                    "field",
                    "metadata",
                    "phone_number_id",
                    "messages",
                    "statuses",
                    "contacts",
                    "id",
                    "from",
                    "timestamp",
                    "type",
                    "text",
                    "body",
                    "status",
                    "errors",
                    "code",
                    "wa_id",
                    "user_id",
                    "system",
                    "group_id",
                    "calls",
                    "event",
                ]
            )
            | st.text(max_size=6),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=25,
)


def _real_bodies() -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    for path in sorted((DATA / "whatsapp-webhooks").glob("*.json")):
        bodies.extend(json.loads(path.read_text()).values())
    return bodies


REAL = _real_bodies()


def _mutate(value: Any, path: list[int], replacement: Any) -> Any:
    """Replace the node reached by following `path` (indexes into dict values / list items)."""
    if not path or not isinstance(value, dict | list) or not value:
        return replacement
    items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
    key, child = items[path[0] % len(items)]
    new = _mutate(child, path[1:], replacement)
    if isinstance(value, dict):
        return {**value, key: new}
    out = list(value)
    out[key] = new
    return out


mutated_real = st.builds(_mutate, st.sampled_from(REAL), st.lists(st.integers(0, 50), max_size=8), json_values)
envelopes = st.builds(lambda entry: {"object": "whatsapp_business_account", "entry": entry}, json_values)
raw_bodies = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    envelopes.map(lambda v: json.dumps(v).encode()),
    mutated_real.map(lambda v: json.dumps(v).encode()),
    st.tuples(st.sampled_from(REAL), st.floats(0.0, 1.0)).map(
        lambda t: json.dumps(t[0]).encode()[: int(len(json.dumps(t[0])) * t[1])]  # truncated
    ),
    st.binary(max_size=64),
)


@pytest.fixture(scope="module")
def fuzz_sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        for pnid in ("1122334455667", "743897493242", "5483758353", "37489742", PNID):
            sim.add_channel(phone_number_id=pnid)
        yield sim


@pytest.mark.slow  # 300 examples: out of the loop between two edits, in every full run
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=raw_bodies)
def test_no_signed_body_gets_a_5xx(fuzz_sim: Simulator, raw: bytes) -> None:
    response = fuzz_sim.post_webhook(raw)
    assert response.status_code < 500, (raw[:300], response.text)
    # Signed and under 3 MB: stored and acknowledged, unless it is no webhook (400), names numbers
    # Meta would not (422) or nothing it names is vouched for by the signer (403).
    assert response.status_code in (200, 400, 403, 422), response.text
    if response.status_code != 200:
        return
    # A crash behind the endpoint is caught and kept for re-processing; it must not happen either.
    with fuzz_sim.runtime.db.read() as conn:
        outcome = conn.execute(
            select(webhook_log.c.outcome).where(webhook_log.c.id == response.json()["id"])
        ).scalar_one()
    assert outcome is not None
    assert outcome["error"] is None or outcome["error"].startswith("unreadable payload"), outcome
