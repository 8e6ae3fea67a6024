"""Two workspaces on one real `serve`: A and B, each with its own channel, app secret and API key, set up
through the CLI a user runs (issue 25's attacks are one tenant against another)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import HTTP, cli_env, set_up_with_cli, start_serve, stop
from wasession.runtime.core import new_secret_key
from wasession.sandbox.bodies import new_wamid, text_message_body
from wasession.whatsapp.signature import sign

PHONES = {"a": "106540352242901", "b": "106540352242902"}
SECRETS = {"a": "tenant-a-app-secret", "b": "tenant-b-app-secret"}


def tenant_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return cli_env(
        tmp_path,
        WASESSION_ACCESS_TOKEN="token",
        WASESSION_VERIFY_TOKEN="verify",
        WASESSION_OUTBOUND_ALLOW="127.0.0.1",
        WASESSION_SECRET_KEY=new_secret_key(),
        **extra,
    )


@dataclass
class Tenant:
    name: str
    url: str
    key: str
    channel_id: int
    phone: str
    secret: str

    def call(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        headers = {**(headers or {}), "Authorization": f"Bearer {self.key}"}
        return HTTP.request(method, self.url + "/api/v1" + path, headers=headers, timeout=120, **kwargs)

    def add_forward(self, url: str) -> int:
        made = self.call("POST", f"/channels/{self.channel_id}/forwards", json={"url": url})
        assert made.status_code == 201, made.text
        return int(made.json()["id"])

    def body(self, text: str) -> tuple[bytes, str]:
        data = text_message_body(
            phone_number_id=self.phone,
            wa_id="4915100000001",
            name="Ana",
            text=text,
            wamid=new_wamid(),
            timestamp=datetime.now(UTC),
        )
        raw = json.dumps(data, separators=(",", ":")).encode()
        return raw, sign(self.secret, raw)

    def post_webhook(self, raw: bytes, signature: str) -> None:
        answer = HTTP.post(
            self.url + "/webhooks/whatsapp",
            content=raw,
            headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text


def set_up(env: dict[str, str]) -> dict[str, str]:
    """Both workspaces, channels and keys, by the commands a user runs (in this process: the tests here are
    about `serve`, which stays a real process); answers each tenant's API key."""
    for args in (
        ("migrate",),
        ("workspaces", "create", "b"),
        (
            "channels",
            "add",
            "--skip-token-check",
            "--name",
            "A",
            "--phone-number-id",
            PHONES["a"],
            "--app-secret",
            SECRETS["a"],
        ),
        (
            "channels",
            "add",
            "--skip-token-check",
            "--workspace",
            "b",
            "--name",
            "B",
            "--phone-number-id",
            PHONES["b"],
            "--app-secret",
            SECRETS["b"],
        ),
    ):
        set_up_with_cli(*args, env=env)
    keys = {}
    for name, workspace in (("a", "default"), ("b", "b")):
        made = set_up_with_cli("apikeys", "create", "--workspace", workspace, "--name", name, env=env)
        keys[name] = made.stdout.strip()
    return keys


@contextmanager
def two_tenants(tmp_path: Path, env: dict[str, str]) -> Iterator[dict[str, Tenant]]:
    keys = set_up(env)
    proc, url = start_serve(tmp_path, env=env)
    try:
        tenants = {}
        for name, key in keys.items():
            listed = HTTP.get(url + "/api/v1/channels", headers={"Authorization": f"Bearer {key}"}, timeout=30)
            assert listed.status_code == 200, listed.text
            tenants[name] = Tenant(name, url, key, int(listed.json()[0]["id"]), PHONES[name], SECRETS[name])
        yield tenants
    finally:
        stop(proc)
