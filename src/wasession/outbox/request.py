"""The Graph request for a claimed job: a template or a text, addressed as the contact allows."""

from __future__ import annotations

from typing import Any

from wasession.outbox.jobs import Job
from wasession.whatsapp.client import CloudClient, SendResult


def send(client: CloudClient, job: Job) -> SendResult:
    """Raises what the client raises; the outcome classifier sorts it."""
    message = job.message
    if message.type == "template":
        tpl: dict[str, Any] = message.payload or {}
        return client.send_template(
            phone_number_id=job.channel.phone_number_id,
            access_token=job.secrets.access_token,
            to=job.to,
            recipient=job.recipient,
            name=str(tpl.get("name", "")),
            language=str(tpl.get("language", "")),
            body_parameters=tpl.get("parameters") or (),
            callback_data=message.callback_data,
        )
    return client.send_text(
        phone_number_id=job.channel.phone_number_id,
        access_token=job.secrets.access_token,
        to=job.to,
        recipient=job.recipient,
        body=message.body or "",
        callback_data=message.callback_data,
    )
