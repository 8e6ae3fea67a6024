"""The sandbox panel: type as a customer on a sandbox channel, and watch the reminder arrive.

The customer's message is a signed Cloud API webhook posted through the real /webhooks/whatsapp
endpoint (in process, over ASGI), exactly as the `wasession sandbox message` command does over HTTP.
Ingest tells the built-in fake Cloud API that the customer wrote (`Runtime.attach_fake`), whichever
of the two delivered it.
"""

from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep, front_of
from wasession.services import channels as channel_service
from wasession.services import queries as query_service
from wasession.services import sandbox as sandbox_service
from wasession.services.channels import Channel
from wasession.services.errors import NotFoundError
from wasession.services.users import LoginSession
from wasession.web import auth
from wasession.web.auth import Form
from wasession.web.render import page

RECENT_SESSIONS = 5
MAX_TEXT = 4096
DEFAULT_CUSTOMER = ("Ana Silva", "15550001111")


router = APIRouter()


def sandbox_channel(runtime: Runtime, channel_id: int, login: LoginSession) -> Channel:
    ctx = runtime.ctx
    channel = channel_service.get_channel(ctx, channel_id, workspace_id=login.workspace_id)
    if not channel.sandbox:
        raise NotFoundError("sandbox channel", channel_id)
    return channel


def panel(
    request: Request,
    runtime: Runtime,
    login: LoginSession,
    channel_id: int,
    *,
    error: str | None = None,
    form: Any = None,
) -> Response:
    ctx = runtime.ctx
    channel = sandbox_channel(runtime, channel_id, login)
    recent = query_service.list_sessions(
        ctx, workspace_id=login.workspace_id, channel_id=channel.id, limit=RECENT_SESSIONS
    )
    conversations = [query_service.session_detail(ctx, s.id, workspace_id=login.workspace_id) for s in recent.items]
    name, wa_id = DEFAULT_CUSTOMER
    return page(
        runtime,
        request,
        "sandbox.html",
        login,
        status_code=422 if error else 200,
        channel=channel,
        conversations=conversations,
        error=error,
        form=form or {"name": name, "wa_id": wa_id, "text": ""},
    )


@router.get("/dashboard/channels/{channel_id}/sandbox", include_in_schema=False)
def show(
    request: Request, runtime: RuntimeDep, channel_id: int, login: Annotated[LoginSession, Depends(auth.login)]
) -> Response:
    return panel(request, runtime, login, channel_id)


@router.post("/dashboard/channels/{channel_id}/sandbox/messages", include_in_schema=False)
async def customer_message(
    request: Request, runtime: RuntimeDep, channel_id: int, form: Annotated[Form, Depends(auth.form)]
) -> Response:
    channel = await run_in_threadpool(sandbox_channel, runtime, channel_id, form.login)
    values = {"name": form.get("name").strip(), "wa_id": form.get("wa_id").strip(), "text": form.get("text")}
    error = None
    if not values["wa_id"].isdigit():
        error = f"wa_id must be the customer's phone number in digits; got {values['wa_id']!r}"
    elif not values["text"].strip():
        error = "text may not be empty"
    elif len(values["text"]) > MAX_TEXT:
        error = f"text must be at most {MAX_TEXT} characters; got {len(values['text'])}"
    if error:
        return await run_in_threadpool(panel, request, runtime, form.login, channel_id, error=error, form=values)

    def signed() -> tuple[bytes, dict[str, str]]:
        return sandbox_service.customer_message_webhook(
            runtime.ctx,
            channel,
            wa_id=values["wa_id"],
            name=values["name"] or values["wa_id"],
            text=values["text"],
            at=runtime.clock.now(),
        )

    raw, headers = await run_in_threadpool(signed)
    # Through the ack in front of the app, as Meta's POSTs arrive: the app alone has no such route.
    transport = httpx.ASGITransport(app=front_of(request))
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox.internal") as client:
        response = await client.post("/webhooks/whatsapp", content=raw, headers=headers)
    if response.status_code >= 300:
        message = f"the webhook endpoint answered {response.status_code}: {response.text[:200]}"
        return await run_in_threadpool(panel, request, runtime, form.login, channel_id, error=message, form=values)
    # A 200 means logged: the page it redirects to shows the message once it is applied.
    await run_in_threadpool(runtime.ingestor.queue.wait_applied, int(response.json()["id"]))
    return RedirectResponse(f"/dashboard/channels/{channel_id}/sandbox", status_code=303)
