"""Where a channel's Graph API calls go (with its bearer token) is the operator's choice: the API refuses
graph_base_url and graph_version, and a version is `vN.N` wherever one is accepted."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.support.security import Tenant
from wasession.cli import main
from wasession.config import Settings
from wasession.services import channels as channel_service
from wasession.services.channels import NewChannel
from wasession.services.errors import ValidationError


def channel_body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Support",
        "phone_number_id": "5550001",
        "access_token": "tok",
        "app_secret": "sec",
        "verify_token": "ver",
        **extra,
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("graph_base_url", "http://127.0.0.1:9/"),
        ("graph_base_url", "https://attacker.example"),
        ("graph_base_url", None),
        ("graph_version", "../../v25.0/me"),
        ("graph_version", "v25.0"),
    ],
)
def test_the_api_refuses_the_graph_fields_on_create_and_update(
    default_policy: Tenant, field: str, value: str | None
) -> None:
    api = default_policy
    created = api.call("POST", "/channels", json=channel_body(**{field: value}))
    assert created.status_code == 422, created.text
    error = created.json()["error"]
    assert error["field"] == field and "operator" in error["message"]
    assert api.call("GET", "/channels").json() == []  # nothing was created

    channel = api.call("POST", "/channels", json=channel_body()).json()
    patched = api.call("PATCH", f"/channels/{channel['id']}", json={"name": "Renamed", field: value})
    assert patched.status_code == 422, patched.text
    assert patched.json()["error"]["field"] == field
    after = api.call("GET", f"/channels/{channel['id']}").json()
    assert (after["name"], after["graph_base_url"], after["graph_version"]) == ("Support", None, None)


def test_the_request_schema_does_not_offer_the_graph_fields(default_policy: Tenant) -> None:
    schemas = default_policy.sim.client.get("/openapi.json").json()["components"]["schemas"]
    for name in ("ChannelIn", "ChannelPatch"):
        assert not {"graph_base_url", "graph_version"} & set(schemas[name]["properties"]), name


@pytest.mark.parametrize("version", ["../v1", "v25.0/../../me", "25.0", "v25", "v255.0", "v2.10", ""])
def test_settings_refuse_a_version_that_is_not_vN_N(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    with pytest.raises(ValueError, match="graph_version"):
        Settings(graph_version=version)
    monkeypatch.setenv("WASESSION_GRAPH_VERSION", version)
    with pytest.raises(ValueError, match="graph_version"):
        Settings()


def test_settings_take_a_real_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASESSION_GRAPH_VERSION", "v24.0")
    assert Settings().graph_version == "v24.0"


def test_the_service_refuses_a_bad_version(default_policy: Tenant) -> None:
    ctx = default_policy.sim.runtime.ctx
    new = NewChannel(name="X", phone_number_id="777", access_token="t", app_secret="s", verify_token="v")
    with pytest.raises(ValidationError) as refused:
        channel_service.create_channel(ctx, NewChannel(**{**new.__dict__, "graph_version": "../x"}))
    assert refused.value.field == "graph_version"
    made = channel_service.create_channel(ctx, NewChannel(**{**new.__dict__, "graph_version": "v24.0"}))
    assert made.graph_version == "v24.0"


def test_the_cli_lets_the_operator_point_a_channel_and_checks_the_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASESSION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.delenv("WASESSION_SECRET_KEY", raising=False)
    runner = CliRunner()
    base = [
        "channels",
        "add",
        "--skip-token-check",
        "--name",
        "S",
        "--access-token",
        "t",
        "--app-secret",
        "s",
        "--verify-token",
        "v",
    ]
    bad = runner.invoke(main, [*base, "--phone-number-id", "1", "--graph-version", "../../me"])
    assert bad.exit_code != 0 and "graph_version" in bad.output
    good = runner.invoke(
        main,
        [*base, "--phone-number-id", "2", "--graph-base-url", "http://graph.lan:8080", "--graph-version", "v24.0"],
    )
    assert good.exit_code == 0, good.output
    with sqlite3.connect(tmp_path / "cli.sqlite3") as conn:
        rows = conn.execute("SELECT phone_number_id, graph_base_url, graph_version FROM channels").fetchall()
    assert rows == [("2", "http://graph.lan:8080", "v24.0")]
