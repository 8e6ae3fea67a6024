"""Issue 23 item 7: `wasession channels add` asks Meta whether the access token may act for the number,
through the one function `POST /api/v1/channels` uses (services/channels.py::add_channel). The real
`wasession` process against the fake Cloud API on a real port (WASESSION_GRAPH_BASE_URL)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import cli_env, free_port, run_cli
from tests.support.scale import FakeCloudServer
from wasession.sandbox.fake_cloud import FakeNumber

PHONE = "106540352242922"


@pytest.fixture
def graph() -> Iterator[FakeCloudServer]:
    with FakeCloudServer() as served:
        served.fake.register(
            FakeNumber(PHONE, access_token="right-token", app_secret="s", display_phone_number="+1 555 010 2030")
        )
        yield served


def _add(tmp_path: Path, base_url: str, token: str, *extra: str) -> tuple[int, str, str]:
    env = cli_env(
        tmp_path,
        WASESSION_GRAPH_BASE_URL=base_url,
        WASESSION_ACCESS_TOKEN=token,
        WASESSION_APP_SECRET="s",
        WASESSION_VERIFY_TOKEN="my-verify-token",
    )
    done = run_cli(tmp_path, "channels", "add", "--name", "Support", "--phone-number-id", PHONE, *extra, env=env)
    return done.returncode, done.stdout, done.stderr


def _channels(tmp_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(tmp_path / "wasession.sqlite3") as conn:
        return conn.execute("SELECT phone_number_id, display_phone_number FROM channels").fetchall()


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.strip().splitlines() if not line.startswith("Created a new secret key")]


def test_a_token_meta_accepts_adds_the_channel_and_prints_the_checklist(tmp_path: Path, graph: FakeCloudServer) -> None:
    code, out, err = _add(tmp_path, graph.url, "right-token")
    assert code == 0, err
    assert _errors(err) == []
    assert f"channel 1 created for phone_number_id {PHONE}" in out
    assert "Callback URL: http://127.0.0.1:8000/webhooks/whatsapp" in out
    assert "Verify token: the verify token you just gave this channel" in out
    assert "subscribe to `messages`" in out
    assert _channels(tmp_path) == [(PHONE, "+1 555 010 2030")]  # Meta's display number, as the API takes it


def test_a_token_meta_refuses_is_one_line_and_creates_nothing(tmp_path: Path, graph: FakeCloudServer) -> None:
    code, out, err = _add(tmp_path, graph.url, "wrong-token")
    assert code == 1, out
    [line] = _errors(err)
    assert line.startswith(f"Error: access_token: Meta refused this access token for phone number id {PHONE}"), line
    assert "wrong-token" not in err  # the token itself is never echoed
    assert "Callback URL" not in out
    assert _channels(tmp_path) == []


def test_graph_out_of_reach_is_refused_and_the_skip_flag_warns(tmp_path: Path) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    code, out, err = _add(tmp_path, nowhere, "any-token")
    assert code == 1, out
    [line] = _errors(err)
    assert "could not reach Meta's Graph API to verify the channel" in line, line
    assert _channels(tmp_path) == []

    code, out, err = _add(tmp_path, nowhere, "any-token", "--skip-token-check")
    assert code == 0, err
    [warning] = _errors(err)
    assert warning.startswith("warning: --skip-token-check: Meta was not asked"), warning
    assert _channels(tmp_path) == [(PHONE, "")]
