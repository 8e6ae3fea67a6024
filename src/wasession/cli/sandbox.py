"""`wasession sandbox`: play the customer on a running server's sandbox channel."""

from __future__ import annotations

from datetime import datetime

import click

from wasession.cli.shared import runtime_for, settings


@click.group()
def sandbox() -> None:
    """Play the customer on a running server's sandbox channel."""


@sandbox.command("message")
@click.argument("text")
@click.option(
    "--url",
    default=None,
    help="The running `wasession serve` [default: WASESSION_PUBLIC_URL, else http://WASESSION_HOST:PORT].",
)
@click.option("--port", type=int, default=None, help="The port `serve` listens on [env WASESSION_PORT; default 8000].")
@click.option("--wa-id", default="15550001111", show_default=True, help="The customer's WhatsApp id.")
@click.option("--name", default="Ana Silva", show_default=True, help="The customer's profile name.")
@click.pass_context
def sandbox_message(ctx: click.Context, text: str, url: str | None, port: int | None, wa_id: str, name: str) -> None:
    """Send TEXT to the sandbox channel as the customer, as Meta would deliver it."""
    # httpx and the sandbox service (the fake Cloud API's app with it) only for this command, not
    # at the start of every other one.
    import httpx

    from wasession.services.sandbox import customer_message_webhook, sandbox_channel

    # The server's own settings say where it listens: WASESSION_PORT reaches both commands alike.
    base = (url or settings(ctx, port=port).base_url()).rstrip("/")
    url = base
    with runtime_for(ctx) as runtime:
        channel = sandbox_channel(runtime.ctx)
        if channel is None:
            raise click.ClickException(
                f"there is no sandbox channel in {runtime.settings.safe_database_url()}; start `wasession serve` "
                "once to create it, or give this command the server's --home or --database-url"
            )
        at = _server_now(base) or runtime.clock.now()
        raw, headers = customer_message_webhook(runtime.ctx, channel, wa_id=wa_id, name=name, text=text, at=at)
    try:
        response = httpx.post(base + "/webhooks/whatsapp", content=raw, headers=headers, timeout=10)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"could not reach {url}: {exc}") from exc
    if response.status_code >= 300:
        raise click.ClickException(f"the server answered {response.status_code}: {response.text}")
    click.echo(f"{name} ({wa_id}) wrote {text!r} on the sandbox channel")


def _server_now(base: str) -> datetime | None:
    """The server's clock, which runs ahead of ours under `serve --sandbox-speed`: the message must
    carry the server's time, as Meta stamps messages with the time it received them."""
    import httpx

    from wasession.domain.clock import parse_instant

    try:
        reported = httpx.get(base + "/healthz", timeout=5).json().get("now")
        return parse_instant(reported) if isinstance(reported, str) else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None  # the POST below reports an unreachable server
