"""The channel settings page, "WhatsApp Session Management": one form for the whole session policy,
every field error shown at once, and a preview endpoint for the reminder template."""

import re
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from wasession.domain.errors import ValidationError
from wasession.domain.ladder import MAX_STEPS
from wasession.domain.policy import Policy, policy_errors
from wasession.domain.template import MERGE_FIELDS, render_template, sample_values
from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep
from wasession.services import channels as channel_service
from wasession.services import policy_impact
from wasession.services import templates as template_service
from wasession.services import unrouted as unrouted_service
from wasession.services import usage as usage_service
from wasession.services.channels import SETTINGS_SAVED
from wasession.services.users import LoginSession
from wasession.web import auth, policy_v2
from wasession.web.auth import Form
from wasession.web.render import page

TIMEOUT_UNITS = (("m", "minutes"), ("h", "hours"), ("d", "days"))
INTERVAL_UNITS = (("m", "minutes"), ("h", "hours"))
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
TIMEZONES = sorted(available_timezones() - {"localtime", "posixrules", "Factory"})

# Each setting's label on the page: the form's labels and its errors both read them, so an error names
# the field the user sees ("Session timeout must be …"), never the key (issue 23).
LABELS = {
    "reminder_enabled": "Send a reminder when the customer has gone quiet",
    "reminder_steps": "Reminder ladder",
    "reminder_template": "Message",
    "company_name": "Company name",
    "automated_monthly_cap": "Automated sends per month",
    "automated_monthly_budget": "Automated spending per month",
    "session_timeout": "Session timeout",
    "closure_check": "Closure check",
    "closure_check_anchor": "Anchor time",
    "timezone": "Time zone",
    "reminder_only_when_awaiting_customer": "Only when we answered last",
    "business_hours": "Business hours",
    "closing_message": "Closing message",
    "closing_template": "Template when the window has closed",
    "timeout_from": "Count the timeout from",
    "hold_while_awaiting_agent": "Never close a session still waiting for an agent's reply",
    "reopen_within": "Reopen a timed-out session if the customer writes within",
    "waba_id": "WhatsApp Business Account id",
}
# The ladder's step 1 is the page's one place for the first reminder; the policy's v1 key for it (still
# accepted by the API) is shown there.
SHOWN_AT = {"reminder_after_hours": "reminder_steps"}
# A key as a word of the message, not a merge field such as {company_name}.
_KEY = re.compile(r"(?<![\w{|])(" + "|".join(sorted({*LABELS, *SHOWN_AT}, key=len, reverse=True)) + r")(?![\w}|])")


def _label(key: str) -> str:
    return "Reminder ladder, step 1" if key == "reminder_after_hours" else LABELS.get(key, key)


def labelled(field: str, message: str) -> str:
    """`message` with the setting keys in it named by their labels: a leading key becomes the label, a
    message that names none is led by the field's label."""
    if not _KEY.match(message):
        message = f"{_label(field)}: {message}"
    first = True

    def name(match: re.Match[str]) -> str:
        nonlocal first
        label = _label(match[1])
        if first and match.start() == 0:
            first = False
            return label
        return f"“{label}”"

    return _KEY.sub(name, message)


def errors_by_field(errors: list[ValidationError]) -> dict[str, str]:
    """The first error of each field the page shows, in the words of its labels."""
    by_field: dict[str, str] = {}
    for error in errors:
        field = SHOWN_AT.get(error.field, error.field)
        by_field.setdefault(field, labelled(error.field, error.message))
    return by_field


def _amount_and_unit(value: timedelta, units: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """The largest unit that expresses `value` exactly, so a stored 1d shows as "1 days", not 1440 minutes."""
    seconds = int(value.total_seconds())
    for unit, _ in reversed(units):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return str(seconds // _UNIT_SECONDS[unit]), unit
    return str(seconds), "s"


def form_values(policy: Policy) -> dict[str, Any]:
    timeout_amount, timeout_unit = _amount_and_unit(policy.session_timeout, TIMEOUT_UNITS)
    check_amount, check_unit = _amount_and_unit(policy.closure_check or timedelta(hours=1), INTERVAL_UNITS)
    return {
        "reminder_enabled": policy.reminder_enabled,
        "reminder_template": policy.reminder_template,
        "company_name": policy.company_name,
        "timeout_amount": timeout_amount,
        "timeout_unit": timeout_unit,
        "check_mode": "exact" if policy.closure_check is None else "interval",
        "check_amount": check_amount,
        "check_unit": check_unit,
        "closure_check_anchor": policy.closure_check_anchor.strftime("%H:%M"),
        "timezone": policy.timezone,
        "automated_monthly_cap": "" if policy.automated_monthly_cap is None else str(policy.automated_monthly_cap),
        "automated_monthly_budget": ""
        if policy.automated_monthly_budget is None
        else str(policy.automated_monthly_budget),
    }


def submitted_values(form: Form) -> dict[str, Any]:
    return {
        "reminder_enabled": form.get("reminder_enabled") == "true",
        # Not on the page (the ladder's step 1 is the first reminder); a form that still sends it is heard.
        "reminder_after_hours": form.values.get("reminder_after_hours"),
        "reminder_template": form.get("reminder_template"),
        "company_name": form.get("company_name"),
        "timeout_amount": form.get("timeout_amount").strip(),
        "timeout_unit": form.get("timeout_unit", "h"),
        "check_mode": "interval" if form.get("check_mode") == "interval" else "exact",
        "check_amount": form.get("check_amount").strip(),
        "check_unit": form.get("check_unit", "h"),
        "closure_check_anchor": form.get("closure_check_anchor").strip(),
        "timezone": form.get("timezone").strip(),
        # Absent (a form without the field) keeps the stored cap; blank means no cap (R23).
        "automated_monthly_cap": form.values.get("automated_monthly_cap"),
        "automated_monthly_budget": form.values.get("automated_monthly_budget"),
    }


def _duration_text(amount: str, unit: str) -> str:
    # An unknown unit is passed on as typed, so the policy's own parser names the field in its error.
    return f"{amount}{unit if unit in _UNIT_SECONDS else ' ' + unit}"


def policy_changes(values: dict[str, Any]) -> dict[str, object]:
    return {
        "reminder_enabled": values["reminder_enabled"],
        **(
            {}
            if values.get("reminder_after_hours") is None
            else {"reminder_after_hours": values["reminder_after_hours"].strip()}
        ),
        "reminder_template": values["reminder_template"],
        "company_name": values["company_name"],
        "session_timeout": _duration_text(values["timeout_amount"], values["timeout_unit"]),
        "closure_check": "exact"
        if values["check_mode"] == "exact"
        else _duration_text(values["check_amount"], values["check_unit"]),
        "closure_check_anchor": values["closure_check_anchor"],
        "timezone": values["timezone"],
        **(
            {}
            if values["automated_monthly_cap"] is None
            else {"automated_monthly_cap": values["automated_monthly_cap"]}
        ),
        **(
            {}
            if values.get("automated_monthly_budget") is None
            else {"automated_monthly_budget": values["automated_monthly_budget"]}
        ),
    }


def preview(template: str, company_name: str) -> tuple[str | None, str | None]:
    """(text, None) or (None, the error message)."""
    try:
        return render_template(template, sample_values(company_name)), None
    except ValidationError as exc:
        return None, exc.message


router = APIRouter()


def settings_page(
    request: Request,
    runtime: Runtime,
    login: LoginSession,
    channel_id: int,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    saved: bool = False,
    impact: list[str] | None = None,
) -> Response:
    ctx = runtime.ctx
    channel = channel_service.get_channel(ctx, channel_id, workspace_id=login.workspace_id)
    shown = values or form_values(channel.policy)
    v2 = values.get("v2") if values else policy_v2.form_values(channel.policy)
    text, preview_error = preview(shown["reminder_template"], shown["company_name"])
    cost = usage_service.ladder_cost(runtime.ctx, channel, channel.policy)
    return page(
        runtime,
        request,
        "settings.html",
        login,
        status_code=422 if errors else 200,
        channel=channel,
        values=shown,
        errors=errors or {},
        saved=saved,
        impact=impact or [],
        saved_message=SETTINGS_SAVED,
        preview_text=text,
        preview_error=preview_error,
        merge_fields=MERGE_FIELDS,
        timeout_units=TIMEOUT_UNITS,
        interval_units=INTERVAL_UNITS,
        timezones=TIMEZONES,
        labels=LABELS,
        v2=v2,
        v2_fields=policy_v2.FIELDS,
        step_kinds=policy_v2.STEP_KINDS,
        step_units=policy_v2.STEP_UNITS,
        max_steps=MAX_STEPS,
        ladder_cost=None if cost is None else cost.sentence(),
        waba_id=template_service.catalog(runtime.ctx, channel_id, workspace_id=login.workspace_id).waba_id,
        unrouted=[unrouted_service.notice(n) for n in unrouted_service.list_unrouted(runtime.ctx, login.workspace_id)],
    )


@router.get("/dashboard/channels/{channel_id}/settings", include_in_schema=False)
def show(
    request: Request,
    runtime: RuntimeDep,
    channel_id: int,
    login: Annotated[LoginSession, Depends(auth.admin)],
    saved: int = 0,
) -> Response:
    return settings_page(request, runtime, login, channel_id, saved=bool(saved))


@router.post("/dashboard/channels/{channel_id}/settings", include_in_schema=False)
def save(
    request: Request, runtime: RuntimeDep, channel_id: int, form: Annotated[Form, Depends(auth.admin_form)]
) -> Response:
    channel = channel_service.get_channel(runtime.ctx, channel_id, workspace_id=form.login.workspace_id)
    values = submitted_values(form)
    values["v2"] = policy_v2.submitted_values(form)
    changes = {**policy_changes(values), **policy_v2.policy_changes(values["v2"], channel.policy)}
    errors = policy_errors(changes, channel.policy)
    if not errors and form.get("confirm") != "yes":
        # The dry run of this very save: what it moves is shown, and saved only once confirmed.
        moves = policy_impact.preview_policy(
            runtime.ctx, channel_id, changes, workspace_id=form.login.workspace_id
        ).sentences()
        proposed = policy_impact.checked_policy(changes, channel.policy)
        if (proposed.ladder, proposed.closing_message, proposed.closing_template) != (
            channel.policy.ladder,
            channel.policy.closing_message,
            channel.policy.closing_template,
        ) and (cost := usage_service.ladder_cost(runtime.ctx, channel, proposed)):
            moves.append("automated sends would cost " + cost.sentence())  # R23: what it costs, before saving
        if moves:
            return settings_page(request, runtime, form.login, channel_id, values, impact=moves)
    if not errors:
        try:
            channel_service.save_policy(runtime.ctx, channel_id, changes, workspace_id=form.login.workspace_id)
        except ValidationError as exc:  # the policy changed underneath us between the check and the save
            errors = [exc]
    if errors:
        return settings_page(request, runtime, form.login, channel_id, values, errors_by_field(errors))
    return RedirectResponse(f"/dashboard/channels/{channel_id}/settings?saved=1", status_code=303)


@router.post("/dashboard/channels/{channel_id}/account", include_in_schema=False)
def save_account(
    request: Request, runtime: RuntimeDep, channel_id: int, form: Annotated[Form, Depends(auth.admin_form)]
) -> Response:
    try:
        template_service.set_account(runtime.ctx, channel_id, form.get("waba_id"), workspace_id=form.login.workspace_id)
    except ValidationError as exc:
        return settings_page(request, runtime, form.login, channel_id, errors=errors_by_field([exc]))
    return RedirectResponse(f"/dashboard/channels/{channel_id}/settings?saved=1#account", status_code=303)


@router.get("/dashboard/preview", include_in_schema=False)
def render_preview(
    login: Annotated[LoginSession, Depends(auth.login)], template: str = "", company_name: str = ""
) -> Response:
    text, error = preview(template, company_name)
    return JSONResponse({"text": text, "error": error})
