"""The Graph request for a claimed job: a template or a text, addressed as the contact allows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from wasession.outbox.jobs import Job
from wasession.whatsapp.client import CloudClient, SendResult, template_payload, text_payload

# Runs a blocking call in a worker thread and awaits it (the sender's executor).
InThread = Callable[[Callable[[], SendResult]], Awaitable[SendResult]]


def send(client: CloudClient, job: Job) -> SendResult:
    """In this thread. Raises what the client raises; the outcome classifier sorts it."""
    message = job.message
    common: dict[str, Any] = {
        "phone_number_id": job.channel.phone_number_id,
        "access_token": job.secrets.access_token,
        "to": job.to,
        "recipient": job.recipient,
        "callback_data": message.callback_data,
    }
    if message.type == "template":
        return client.send_template(**common, **_template_arguments(job))
    return client.send_text(**common, body=message.body or "")


async def send_async(client: CloudClient, job: Job, in_thread: InThread) -> SendResult:
    """On the sender's event loop: over the client's wire when it has one, else `send` in a thread."""
    if client.wire is None:
        return await in_thread(lambda: send(client, job))
    message = job.message
    address: dict[str, Any] = {"to": job.to, "recipient": job.recipient, "callback_data": message.callback_data}
    if message.type == "template":
        payload = template_payload(**address, **_template_arguments(job))
    else:
        payload = text_payload(**address, body=message.body or "")
    return await client.send_on_wire(job.channel.phone_number_id, job.secrets.access_token, payload)


def _template_arguments(job: Job) -> dict[str, Any]:
    tpl: dict[str, Any] = job.message.payload or {}
    return {
        "name": str(tpl.get("name", "")),
        "language": str(tpl.get("language", "")),
        "body_parameters": tpl.get("parameters") or (),
    }
