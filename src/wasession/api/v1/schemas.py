"""Request and response models of /api/v1. Credentials and secrets appear only in request models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

MAX_ID = 2**63 - 1  # ids are BIGINT; a larger number can name nothing and must not reach the driver
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    closed_at: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


Model = TypeVar("Model", bound=BaseModel)


def from_record(model: type[Model], record: object, **given: Any) -> Model:
    """`model` filled from the attributes of the same names on `record` (a service's dataclass), so a
    field is named once, in the model; `given` are the fields the record does not hold as they are shown.
    A required field the record lacks raises, naming it."""
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in given:
            values[name] = given[name]
        elif hasattr(record, name):
            values[name] = getattr(record, name)
        elif info.is_required():
            raise AttributeError(f"{type(record).__name__} has no {name!r} for {model.__name__}")
    return model(**values)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer, all with the one error shape."""
    return {code: {"model": ErrorResponse} for code in (401, 422, *codes)}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- workspace and keys ----------------------------------------------------------------------------------


class WorkspaceOut(BaseModel):
    id: int
    name: str
    created_at: datetime


class ApiKeyIn(Strict):
    name: str = Field(max_length=200)


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The whole key. Shown only in this response; store it now.")


# -- channels ------------------------------------------------------------------------------------------


class ChannelIn(Strict):
    name: str = Field(max_length=200)
    phone_number_id: str = Field(max_length=64)
    access_token: str = Field(max_length=4096, json_schema_extra={"writeOnly": True})
    app_secret: str = Field(max_length=4096, json_schema_extra={"writeOnly": True})
    verify_token: str = Field(max_length=4096, json_schema_extra={"writeOnly": True})
    display_phone_number: str = Field(default="", max_length=32)
    # Operator-only (WASESSION_GRAPH_BASE_URL, `channels add --graph-base-url`): left out of the schema and
    # refused with a clear error naming the field, since the server sends the channel's token there.
    graph_base_url: SkipJsonSchema[str | None] = None
    graph_version: SkipJsonSchema[str | None] = None
    rate_limit_per_second: int = 80
    policy: dict[str, Any] | None = None


class ChannelPatch(Strict):
    name: str | None = Field(default=None, max_length=200)
    display_phone_number: str | None = Field(default=None, max_length=32)
    rate_limit_per_second: int | None = None
    access_token: str | None = Field(default=None, max_length=4096, json_schema_extra={"writeOnly": True})
    app_secret: str | None = Field(default=None, max_length=4096, json_schema_extra={"writeOnly": True})
    verify_token: str | None = Field(default=None, max_length=4096, json_schema_extra={"writeOnly": True})
    graph_base_url: SkipJsonSchema[str | None] = None  # refused, as in ChannelIn
    graph_version: SkipJsonSchema[str | None] = None


OPERATOR_ONLY = ("graph_base_url", "graph_version")


class ChannelOut(BaseModel):
    id: int
    name: str
    phone_number_id: str
    display_phone_number: str
    sandbox: bool
    graph_base_url: str | None
    graph_version: str | None
    rate_limit_per_second: int
    sending_paused_reason: str | None
    policy: dict[str, Any]
    policy_updated_at: datetime
    created_at: datetime


class PolicyOut(BaseModel):
    policy: dict[str, Any]


class PolicySaved(BaseModel):
    message: str
    policy: dict[str, Any]


# -- sessions ------------------------------------------------------------------------------------------


class ReminderOut(BaseModel):
    """Where the reminder stands, as the dashboard's list and session page show it (one function)."""

    state: str  # scheduled, snoozed, none, or queued/sent/delivered/read/failed/unknown/skipped/cancelled/missed
    step: int | None = None  # the ladder step it is about
    at: datetime | None = None  # scheduled: when it goes out; snoozed: when the snooze ends (the step is skipped)
    reason: str | None = None  # why, where there is one (e.g. snoozed, session_closed, outside_business_hours)


class SessionOut(BaseModel):
    id: int
    channel_id: int
    channel_name: str
    contact_id: int
    contact_name: str
    contact_wa_id: str | None
    contact_user_id: str | None
    status: str
    opened_at: datetime
    closed_at: datetime | None
    close_reason: str | None
    last_customer_at: datetime
    last_message_at: datetime
    awaiting: str
    eligible: bool
    eligible_at: datetime
    window_open: bool
    window_closes_at: datetime
    closes_at: datetime
    reminder_state: str
    reminder_due_at: datetime | None
    reminder_reason: str | None
    last_message_preview: str | None = None  # in lists: the newest message, shortened
    last_message_failed: bool = False  # in lists: that message is ours, and failed (or may not have gone)
    reminder_step: int = 1  # the ladder step reminder_state and reminder_due_at are about
    snoozed_until: datetime | None = None  # set while snoozed (in the future) and after a wake
    snoozed: bool = False  # snoozed_until is ahead: no reminder and no automatic closure until then
    held: bool = False  # hold_while_awaiting_agent keeps it open until an agent replies
    reminder: ReminderOut = ReminderOut(state="none")  # the reminder's status, true through snooze and reopen
    assignee: str | None = None  # the dashboard user the chat is assigned to (issue 23)


class SessionPageOut(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None
    prev_cursor: str | None = None
    total: int = 0  # sessions matching the filters, on every page
    start: int = 0  # position of the first item among them, from 1 (0 when empty)


class MessageOut(BaseModel):
    id: int
    direction: str
    kind: str
    type: str
    body: str | None
    status: str
    sent_at: datetime
    created_at: datetime
    status_at: datetime | None
    error_code: int | None
    error_title: str | None
    error_detail: str | None


class EventOut(BaseModel):
    id: int
    type: str
    at: datetime
    channel_id: int | None
    session_id: int | None
    data: dict[str, Any]


class FreeWindowOut(BaseModel):
    """The free entry point window Meta's statuses reported (R23), beside our 24-hour window."""

    conversation_id: str | None
    origin_type: str | None
    pricing_type: str | None
    expires_at: datetime | None
    open: bool | None  # None while Meta has not said when it expires


class ReferralOut(BaseModel):
    wamid: str
    received_at: datetime
    referral: dict[str, Any]  # as Meta sent it: source_type, source_id, source_url, headline, ctwa_clid, ...


class SessionDetailOut(BaseModel):
    session: SessionOut
    transcript: list[MessageOut]
    timeline: list[EventOut]
    free_window: FreeWindowOut | None = None
    referral: ReferralOut | None = None


class TextIn(Strict):
    body: str = Field(max_length=100_000)


class TemplateIn(Strict):
    name: str = Field(max_length=1000)
    language: str = Field(max_length=100)
    parameters: list[str] | dict[str, str] = Field(default_factory=list)


class MessageQueued(BaseModel):
    message_id: int
    status: str


# -- contacts ------------------------------------------------------------------------------------------


class ContactOut(BaseModel):
    id: int
    wa_id: str | None
    user_id: str | None
    profile_name: str | None
    display_name: str
    first_name: str | None
    last_name: str | None
    email: str | None
    created_at: datetime
    updated_at: datetime


class ContactPage(BaseModel):
    items: list[ContactOut]
    next_cursor: str | None


class ContactPatch(Strict):
    first_name: str | None = Field(default=None, max_length=1000)
    last_name: str | None = Field(default=None, max_length=1000)
    email: str | None = Field(default=None, max_length=1000)


class RowErrorOut(BaseModel):
    row: int
    field: str | None
    message: str


class ImportReportOut(BaseModel):
    created: int
    updated: int
    errors: list[RowErrorOut]


# -- event webhooks ------------------------------------------------------------------------------------


class EventWebhookIn(Strict):
    url: str = Field(max_length=2000)
    secret: str = Field(max_length=256, json_schema_extra={"writeOnly": True})
    description: str = Field(default="", max_length=500)
    enabled: bool = True


class EventWebhookPatch(Strict):
    url: str | None = Field(default=None, max_length=2000)
    secret: str | None = Field(default=None, max_length=256, json_schema_extra={"writeOnly": True})
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class EventWebhookOut(BaseModel):
    id: int
    url: str
    description: str
    enabled: bool
    created_at: datetime


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class SnoozeIn(Strict):
    """`until`: an ISO 8601 instant with its offset, or a duration from now such as 2h."""

    until: str = Field(max_length=100)
