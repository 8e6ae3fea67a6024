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
    template, arguments = _arguments(job)
    number, token = job.channel.phone_number_id, job.secrets.access_token
    if template:
        return client.send_template(phone_number_id=number, access_token=token, **arguments)
    return client.send_text(phone_number_id=number, access_token=token, **arguments)


async def send_async(client: CloudClient, job: Job, in_thread: InThread) -> SendResult:
    """On the sender's event loop: over the client's wire when it has one, else `send` in a thread."""
    if client.wire is None:
        return await in_thread(lambda: send(client, job))
    template, arguments = _arguments(job)
    payload = template_payload(**arguments) if template else text_payload(**arguments)
    return await client.send_on_wire(job.channel.phone_number_id, job.secrets.access_token, payload)


def _arguments(job: Job) -> tuple[bool, dict[str, Any]]:
    """Whether the job sends a template, and what the send says beyond the channel's number and token."""
    message = job.message
    arguments: dict[str, Any] = {"to": job.to, "recipient": job.recipient, "callback_data": message.callback_data}
    if message.type != "template":
        arguments["body"] = message.body or ""
        return False, arguments
    tpl: dict[str, Any] = message.payload or {}
    arguments["name"] = str(tpl.get("name", ""))
    arguments["language"] = str(tpl.get("language", ""))
    arguments["body_parameters"] = tpl.get("parameters") or ()
    return True, arguments
