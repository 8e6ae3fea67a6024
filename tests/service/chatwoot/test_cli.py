"""`wasession chatwoot` through the CLI's main() against the fake Chatwoot on a real port: connect checks
the URL, token, account and inbox with Chatwoot and names the wrong one in one line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from wasession.cli import main
from wasession.sandbox.fake_chatwoot import FakeChatwoot, ServedFakeChatwoot


@pytest.fixture
def cw() -> Iterator[ServedFakeChatwoot]:
    fake = FakeChatwoot()
    fake.inboxes[2] = {"id": 2, "account_id": 1, "name": "Web", "channel_type": "Channel::WebWidget"}
    with ServedFakeChatwoot(fake) as served:
        yield served


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASESSION_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.delenv("WASESSION_SECRET_KEY", raising=False)
    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "127.0.0.1")
    for name, value in (("ACCESS_TOKEN", "t"), ("APP_SECRET", "s"), ("VERIFY_TOKEN", "v")):
        monkeypatch.setenv(f"WASESSION_{name}", value)
    runner = CliRunner()
    added = runner.invoke(
        main, ["channels", "add", "--skip-token-check", "--name", "Shop", "--phone-number-id", "123456"]
    )
    assert added.exit_code == 0, added.output
    return runner


def run(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, ["chatwoot", *args])


def connect(cli: CliRunner, cw: ServedFakeChatwoot, *extra: str, **over: str) -> Result:
    values = {"url": cw.url, "account": "1", "inbox": "1", "token": cw.fake.token, **over}
    return run(
        cli,
        "connect",
        "Shop",
        "--url",
        values["url"],
        "--account-id",
        values["account"],
        "--inbox-id",
        values["inbox"],
        "--api-token",
        values["token"],
        *extra,
    )


def one_line_error(result: Result, *words: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    for word in words:
        assert word in lines[0], lines[0]


def test_wrong_url_token_account_or_inbox_is_named_in_one_line(cli: CliRunner, cw: ServedFakeChatwoot) -> None:
    one_line_error(connect(cli, cw, url="http://127.0.0.1:9"), "url", "did not answer")
    one_line_error(connect(cli, cw, token="nope"), "api_token", "refused the API token")
    one_line_error(connect(cli, cw, account="7"), "account_id", "not in Chatwoot account 7", "accounts: 1")
    one_line_error(connect(cli, cw, inbox="9"), "inbox_id", "no inbox 9")
    one_line_error(connect(cli, cw, inbox="2"), "inbox_id", "WebWidget", "WhatsApp inbox")
    one_line_error(connect(cli, cw, url="http://10.0.0.8"), "url")
    assert "no Chatwoot connections" in run(cli, "list").output  # nothing was stored


def test_connect_prints_the_webhook_and_relay_target_then_list_show_pause_resume_remove(
    cli: CliRunner, cw: ServedFakeChatwoot
) -> None:
    done = connect(cli, cw, "--webhook-secret", "a-webhook-secret-1", "--public-url", "https://ws.example.com")
    assert done.exit_code == 0, done.output
    assert "https://ws.example.com/chatwoot/1/webhook" in done.output
    assert f"wasession forwards add 1 {cw.url}/webhooks/whatsapp/+15550001111" in done.output
    assert cw.fake.token not in done.output
    again = connect(cli, cw)
    one_line_error(again, "already connected")
    listed = run(cli, "list").output
    assert "channel 1  active" in listed and "send via chatwoot  signed" in listed
    shown = run(cli, "show", "1").output
    assert "/chatwoot/1/webhook" in shown and "calls: none" in shown
    assert "paused" in run(cli, "pause", "1").output
    assert "paused" in run(cli, "list").output
    assert "resumed" in run(cli, "resume", "1").output
    assert "removed" in run(cli, "remove", "1").output
    one_line_error(run(cli, "show", "1"), "chatwoot connection 1 not found")


def test_without_a_secret_it_warns_that_webhooks_come_unsigned(cli: CliRunner, cw: ServedFakeChatwoot) -> None:
    done = connect(cli, cw, "--send-via", "direct")
    assert done.exit_code == 0
    assert "UNSIGNED" in run(cli, "list").output and "send via direct" in run(cli, "list").output
