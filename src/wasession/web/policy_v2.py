"""The settings page's policy v2 part (issue 13): the reminder ladder editor, the closing message, the
timer options, business hours and reopen. Its template is `_policy_v2.html`, its script
`static/policy_v2.js`; the page's form sends these fields with the others."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from wasession.domain.business_hours import BusinessHours
from wasession.domain.durations import format_duration
from wasession.domain.ladder import MAX_STEPS, one_step
from wasession.domain.policy import POLICY_FIELDS, Policy
from wasession.web.auth import Form

# The settings this part of the form edits: those policy v2 added, after the original eight.
FIELDS = POLICY_FIELDS[POLICY_FIELDS.index("reminder_steps") :]
STEP_KINDS = (("after", "after the customer's message"), ("before_window_closes", "before the window closes"))
STEP_UNITS = (("m", "minutes"), ("h", "hours"))


def _amount(value: timedelta) -> tuple[str, str]:
    minutes = int(value.total_seconds() // 60)
    return (str(minutes // 60), "h") if minutes % 60 == 0 else (str(minutes), "m")


def hours_text(hours: BusinessHours) -> str:
    """Business hours as the form shows them: `mon 09:00-18:00; sat 10:00-13:00`."""
    return "; ".join(f"{day} {', '.join(ranges)}" for day, ranges in hours.to_public().items())


def parse_hours_text(text: str) -> object:
    """The form's `day range, range; day range` as the policy's mapping; left as typed when it is not that
    shape, so the policy's own parser names the field in its error."""
    if not text.strip():
        return {}
    found: dict[str, list[str]] = {}
    for part in text.split(";"):
        day, _, ranges = part.strip().partition(" ")
        if not day or not ranges.strip():
            return text
        found.setdefault(day, []).extend(r.strip() for r in ranges.split(",") if r.strip())
    return found


def form_values(policy: Policy) -> dict[str, Any]:
    steps = []
    for step in policy.reminder_steps or one_step(policy.reminder_after_hours):
        kind = "after" if step.after is not None else "before_window_closes"
        amount, unit = _amount(step.after if step.after is not None else step.before_window_closes or timedelta())
        steps.append({"kind": kind, "amount": amount, "unit": unit, "text": step.template or ""})
    return {
        "steps": steps,
        "reminder_only_when_awaiting_customer": policy.reminder_only_when_awaiting_customer,
        "closing_message": policy.closing_message,
        "closing_template_name": policy.closing_template.name if policy.closing_template else "",
        "closing_template_language": policy.closing_template.language if policy.closing_template else "",
        "timeout_from": policy.timeout_from,
        "hold_while_awaiting_agent": policy.hold_while_awaiting_agent,
        "business_hours": hours_text(policy.business_hours),
        "reopen_within": "" if not policy.reopen_within else format_duration(policy.reopen_within),
    }


def submitted_values(form: Form) -> dict[str, Any]:
    steps = []
    for n in range(1, MAX_STEPS + 2):  # one more than allowed, so a fourth row is refused, not dropped
        if f"step_amount_{n}" in form.values:
            steps.append(
                {
                    "kind": form.get(f"step_kind_{n}", "after"),
                    "amount": form.get(f"step_amount_{n}").strip(),
                    "unit": form.get(f"step_unit_{n}", "h"),
                    "text": form.get(f"step_text_{n}"),
                }
            )
    return {
        "steps": steps,
        "reminder_only_when_awaiting_customer": form.get("reminder_only_when_awaiting_customer") == "true",
        "closing_message": form.get("closing_message"),
        "closing_template_name": form.get("closing_template_name").strip(),
        "closing_template_language": form.get("closing_template_language").strip(),
        "timeout_from": form.get("timeout_from", "customer"),
        "hold_while_awaiting_agent": form.get("hold_while_awaiting_agent") == "true",
        "business_hours": form.get("business_hours"),
        "reopen_within": form.get("reopen_within").strip() or "0",
    }


def _step(row: dict[str, str]) -> dict[str, object]:
    step: dict[str, object] = {row["kind"]: f"{row['amount']}{row['unit']}" if row["amount"] else ""}
    if row["text"].strip():
        step["template"] = row["text"]
    return step


def policy_changes(values: dict[str, Any], stored: Policy) -> dict[str, object]:
    """The v2 settings to save. The ladder is sent only when it differs from the stored one: its step 1
    is the page's one place for the first reminder (a one-step whole-hour ladder is stored as the
    policy's reminder_after_hours, domain/policy.py `_one_reading`)."""
    name, language = values["closing_template_name"], values["closing_template_language"]
    changes: dict[str, object] = {
        "reminder_only_when_awaiting_customer": values["reminder_only_when_awaiting_customer"],
        "closing_message": values["closing_message"],
        "closing_template": {"name": name, "language": language} if name or language else None,
        "timeout_from": values["timeout_from"],
        "hold_while_awaiting_agent": values["hold_while_awaiting_agent"],
        "business_hours": parse_hours_text(values["business_hours"]),
        "reopen_within": values["reopen_within"],
    }
    if values["steps"] != form_values(stored)["steps"]:
        changes["reminder_steps"] = [_step(row) for row in values["steps"]]
    return changes
