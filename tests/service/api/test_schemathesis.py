"""Property-based run of schemathesis against /openapi.json: no 5xx, no response outside its schema.

Bounded: a fixed number of examples per operation and no Hypothesis deadline, so the whole run stays
well under a minute. Event-webhook test sends go to an in-memory transport, never the network.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from wasession.services import apikeys as key_service
from wasession.services import channels as channel_service
from wasession.testing import Simulator

# Together more than 10 s (a fuzz run of every API operation): out of the loop between two edits.
pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def test_every_api_operation_answers_within_its_schema() -> None:
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        ctx = sim.runtime.ctx
        workspace = channel_service.default_workspace(ctx)
        key = key_service.create_key(ctx, workspace_id=workspace, name="st").secret
        auth = {"Authorization": f"Bearer {key}"}
        sim.runtime.event_dispatch.http = httpx.Client(transport=httpx.MockTransport(lambda _: httpx.Response(204)))
        ch = sim.add_channel()
        sim.customer_message(ch, wa_id="15550001111", name="Ana Silva")  # session 1, contact 1
        sim.client.post(
            "/api/v1/event-webhooks", headers=auth, json={"url": "http://crm.test/hook", "secret": "0123456789abcdef"}
        )
        schema = schemathesis.openapi.from_asgi("/openapi.json", sim.app).include(path_regex="^/api/v1/")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 20
        # Deletions last, so the seeded channel, session and webhook are there for the other operations.
        operations.sort(key=lambda op: op.method.upper() == "DELETE")
        calls: dict[str, int] = {}
        statuses: dict[str, set[int]] = {}

        def exercise(operation: schemathesis.APIOperation) -> None:
            @given(case=operation.as_strategy())
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: schemathesis.Case) -> None:
                # A key of its own per case: DELETE /api-keys/{id} may well revoke the key it is called with.
                own = key_service.create_key(ctx, workspace_id=workspace, name="case").secret
                response = case.call_and_validate(headers={"Authorization": f"Bearer {own}"}, checks=CHECKS)
                statuses.setdefault(operation.label, set()).add(response.status_code)
                calls[operation.label] = calls.get(operation.label, 0) + 1

            run()

        for operation in operations:
            exercise(operation)
        # Every operation really was exercised, most of them many times.
        assert len(calls) == len(operations)
        assert sum(calls.values()) >= 10 * len(operations), calls
        # Authenticated: no operation answered only 401, so the cases reached the handlers.
        assert all(codes != {401} for codes in statuses.values()), statuses
