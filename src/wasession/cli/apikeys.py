"""`wasession apikeys`: REST API keys (issue 4)."""

from __future__ import annotations

import click

from wasession.cli.shared import runtime_for, user_errors, workspace_id_named

WORKSPACE_HELP = "The workspace's name."


@click.group()
def apikeys() -> None:
    """Create, list and revoke REST API keys (`Authorization: Bearer wsk_…`)."""


_workspace_id = workspace_id_named


@apikeys.command("create")
@click.option("--workspace", default="default", show_default=True, help=WORKSPACE_HELP)
@click.option("--name", required=True, help="What the key is for, e.g. crm-sync.")
@click.pass_context
def apikeys_create(ctx: click.Context, workspace: str, name: str) -> None:
    """Create a key and print it (on stdout, once: only its hash is stored)."""
    from wasession.services import apikeys as key_service

    with runtime_for(ctx) as runtime, user_errors():
        created = key_service.create_key(runtime.ctx, workspace_id=_workspace_id(runtime, workspace), name=name)
    click.echo(f"API key {created.key.id} {created.key.name!r} for workspace {workspace!r}; shown only once:", err=True)
    click.echo(created.secret)


@apikeys.command("list")
@click.option("--workspace", default="default", show_default=True, help=WORKSPACE_HELP)
@click.pass_context
def apikeys_list(ctx: click.Context, workspace: str) -> None:
    """List a workspace's keys: prefix, name, state and last use."""
    from wasession.services import apikeys as key_service

    with runtime_for(ctx) as runtime, user_errors():
        keys = key_service.list_keys(runtime.ctx, workspace_id=_workspace_id(runtime, workspace))
    if not keys:
        click.echo(f"no API keys in workspace {workspace!r}: `wasession apikeys create --name NAME`")
    for k in keys:
        state = f"revoked {k.revoked_at.isoformat()}" if k.revoked_at else "active"
        used = k.last_used_at.isoformat() if k.last_used_at else "never used"
        click.echo(f"{k.id:>4}  {k.prefix}…  {k.name:<24} {state}, {used}")


@apikeys.command("revoke")
@click.argument("key_id", type=int)
@click.option("--workspace", default="default", show_default=True, help=WORKSPACE_HELP)
@click.pass_context
def apikeys_revoke(ctx: click.Context, key_id: int, workspace: str) -> None:
    """Revoke KEY_ID: requests with it are refused from now on."""
    from wasession.services import apikeys as key_service

    with runtime_for(ctx) as runtime, user_errors():
        key_service.revoke_key(runtime.ctx, key_id, workspace_id=_workspace_id(runtime, workspace))
    click.echo(f"API key {key_id} revoked")
