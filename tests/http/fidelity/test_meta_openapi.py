"""Meta's own OpenAPI specification of the Cloud API as the test of our fake and of ingest.

`tests/data/meta-openapi/business-messaging-api_v23.0.yaml` is Meta's (github facebook/openapi, MIT,
`LICENSE` beside it). Its example send requests and example webhooks are bodies nobody here wrote: every
send a business may make to a user inside the window must be accepted by the fake and answered in the
spec's response shape, and every example webhook must be applied by ingest without a failure.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from starlette.testclient import TestClient

from tests.conftest import DATA
from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber
from wasession.store.schema import webhook_log
from wasession.testing import Simulator
from wasession.testing.harness import served_app

SPEC = DATA / "meta-openapi" / "business-messaging-api_v23.0.yaml"
SEND_PATH = "/{Version}/{Phone-Number-ID}/messages"
WEBHOOK_PATH = "/whatsapp/webhooks"
PNID, TOKEN, USER = "106540352242922", "EAAG-spec-token", "16505551234"
PLACEHOLDER = re.compile(r"^\{\{.+\}\}$")


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return loaded


def _operation(path: str) -> dict[str, Any]:
    operation: dict[str, Any] = spec()["paths"][path]["post"]
    return operation


def _examples(path: str) -> dict[str, Any]:
    content = _operation(path)["requestBody"]["content"]["application/json"]
    return {name: example["value"] for name, example in content["examples"].items()}


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = spec()
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def test_the_spec_has_the_examples_the_issue_counts() -> None:
    assert len(_examples(SEND_PATH)) == 50 and len(_examples(WEBHOOK_PATH)) == 16


# -- every example send, through the fake ----------------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


def _shaped_like(answer: Any, example: Any, schema: dict[str, Any] | None, where: str) -> list[str]:
    """Where `answer` differs in shape from Meta's example response: a missing key, a key neither the
    example nor the schema has, or a value of another JSON type."""
    if isinstance(example, dict):
        if not isinstance(answer, dict):
            return [f"{where}: not an object"]
        properties = _resolve(schema).get("properties", {}) if schema else {}
        problems = [f"{where}.{key}: missing" for key in example if key not in answer]
        problems += [
            f"{where}.{key}: not in Meta's shape" for key in answer if key not in example and key not in properties
        ]
        for key, value in answer.items():
            sub = properties.get(key)
            if key in example:
                problems += _shaped_like(value, example[key], _resolve(sub) if sub else None, f"{where}.{key}")
        return problems
    if isinstance(example, list):
        if not isinstance(answer, list) or not answer:
            return [f"{where}: not a non-empty list"]
        items = _resolve(schema).get("items") if schema else None
        return [
            p
            for item in answer
            for p in _shaped_like(item, example[0], _resolve(items) if items else None, where + "[]")
        ]
    return (
        []
        if type(answer) is type(example)
        else [f"{where}: {type(answer).__name__}, Meta's is {type(example).__name__}"]
    )


def _with_our_recipient(body: dict[str, Any]) -> dict[str, Any]:
    # The spec's `to` is a Postman variable ("{{Recipient-Phone-Number}}") or one of Meta's test numbers.
    if isinstance(body.get("to"), str):
        return {**body, "to": "+" + USER}
    return body


@pytest.mark.parametrize("name", sorted(_examples(SEND_PATH)))
def test_the_fake_accepts_every_documented_send_inside_the_window(name: str) -> None:
    clock = _Clock()
    fake = FakeCloudApi(clock)
    fake.register(FakeNumber(PNID, TOKEN, "app-secret"))
    fake.customer_wrote(PNID, USER, clock.moment - timedelta(hours=1))
    body = _with_our_recipient(_examples(SEND_PATH)[name])
    with TestClient(fake.app) as http:
        answer = http.post(f"/v23.0/{PNID}/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    responses = _operation(SEND_PATH)["responses"]["200"]["content"]["application/json"]
    by_name = {n.lower(): e["value"] for n, e in responses["examples"].items()}
    example = by_name.get(name.lower(), by_name["example response"])
    assert _shaped_like(answer.json(), example, responses["schema"], "answer") == []
    if "status" in body:  # the read receipt: nothing is sent to the user
        assert fake.accepted() == [] and [r.message_id for r in fake.receipts(PNID)] == [body["message_id"]]
    else:
        [accepted] = fake.accepted(PNID)
        assert accepted.payload == body and answer.json()["messages"][0]["id"] == accepted.wamid


# -- every example webhook, through ingest -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(_examples(WEBHOOK_PATH)))
def test_ingest_applies_every_documented_webhook(name: str) -> None:
    body = _examples(WEBHOOK_PATH)[name]
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        for pnid in sorted({c["value"]["metadata"]["phone_number_id"] for e in body["entry"] for c in e["changes"]}):
            sim.add_channel(phone_number_id=pnid)
        response = sim.post_webhook(json.dumps(body).encode())
        assert response.status_code == 200, response.text
        with sim.runtime.db.read() as conn:
            [row] = conn.execute(select(webhook_log.c.processed_at, webhook_log.c.failed, webhook_log.c.outcome)).all()
        assert row.processed_at is not None and row.failed is False, row.outcome


def test_every_documented_send_over_a_real_port() -> None:
    """The same examples through the fake served by uvicorn on a real localhost port, one after another
    (the fake's pair limit allows 45 sends in 6 s: the clock moves a minute between them)."""
    clock = _Clock()
    fake = FakeCloudApi(clock)
    fake.register(FakeNumber(PNID, TOKEN, "app-secret"))
    fake.customer_wrote(PNID, USER, clock.moment)
    refused = []
    with served_app(fake.app) as url, httpx.Client(base_url=url) as http:
        for name, example in sorted(_examples(SEND_PATH).items()):
            clock.moment += timedelta(minutes=1)
            answer = http.post(
                f"/v23.0/{PNID}/messages",
                json=_with_our_recipient(example),
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            if answer.status_code != 200:
                refused.append((name, answer.text))
    assert refused == []
    assert len(fake.accepted(PNID)) + len(fake.receipts(PNID)) == 50
