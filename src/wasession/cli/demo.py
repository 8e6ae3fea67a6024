"""`wasession demo`: a scripted day on the virtual clock, printed as a readable timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import click

from wasession.runtime.reads import sessions_in
from wasession.services import agents
from wasession.simulation import Simulator

DESCRIPTIONS: dict[str, Callable[[dict[str, object]], str]] = {
    "session_opened": lambda d: "session opened",
    "customer_message": lambda d: (
        "customer wrote (late, kept in place)"
        if d.get("late")
        else f"customer wrote; window open until {_hm(d.get('window_closes_at'))}, "
        f"closes at {_hm(d.get('closes_at'))}"
        + (f", reminder at {_hm(d.get('reminder_due_at'))}" if d.get("reminder_due_at") else "")
    ),
    "agent_message": lambda d: "agent replied",
    "message_accepted": lambda d: "agent reply accepted by WhatsApp",
    "message_sent": lambda d: "agent reply sent",
    "message_delivered": lambda d: "agent reply delivered",
    "message_read": lambda d: "agent reply read",
    "reminder_queued": lambda d: "reminder due: queued for sending",
    "reminder_accepted": lambda d: "reminder accepted by WhatsApp",
    "reminder_sent": lambda d: "reminder sent",
    "reminder_delivered": lambda d: "reminder delivered",
    "reminder_read": lambda d: "reminder read",
    "reminder_skipped": lambda d: f"reminder skipped ({d.get('reason')})",
    "reminder_cancelled": lambda d: f"reminder cancelled ({d.get('reason')})",
    "reminder_failed": lambda d: f"reminder failed (error {d.get('error_code')})",
    "session_closed": lambda d: f"session closed ({d.get('reason')})",
    "window_closed": lambda d: "WhatsApp reports the window closed",
    "policy_changed": lambda d: _settings_saved(d),
}


def _settings_saved(data: dict[str, object]) -> str:
    policy = data.get("policy")
    shown = ("session_timeout", "reminder_after_hours")
    items = [f"{k}={v}" for k, v in policy.items() if k in shown] if isinstance(policy, dict) else []
    return "settings saved: " + ", ".join(items)


def _hm(value: object) -> str:
    """'Tue 09:00' from an ISO timestamp: windows and closures often fall on the next day."""
    if not isinstance(value, str):
        return "-"
    return datetime.fromisoformat(value).strftime("%a %H:%M")


def run_demo(start: str, echo: Callable[[str], None]) -> None:
    with Simulator(start=start) as sim:
        ch = sim.add_channel(
            name="Acme Support",
            session_timeout="6h",
            closure_check="exact",
            reminder_enabled=True,
            reminder_after_hours=3,
            reminder_template="Hi {contact_firstname|there}! Still there? {company_name} is happy to help.",
            company_name="Acme",
        )
        night = sim.add_channel(
            name="Acme Night Desk", session_timeout="2h", closure_check="12h", closure_check_anchor="03:00"
        )
        echo(f"wasession demo: a day on a virtual clock starting {sim.now:%Y-%m-%d %H:%M} UTC")
        echo("  channel 'Acme Support': reminder 3 h after the customer's last message, close after 6 h (exact)")
        echo("  channel 'Acme Night Desk': close after 2 h, checked every 12 h at 03:00/15:00\n")

        sim.customer_message(ch, wa_id="15550001111", name="Ana Silva", text="Hi, is my order ready?")
        sim.advance("5m")
        ana = sim.session(ch, wa_id="15550001111")
        agents.send_text(sim.runtime.ctx, ana.id, "Hi Ana, let me check that for you.")
        sim.advance("85m")
        sim.customer_message(ch, wa_id="15550002222", name="Bruno Costa", text="Do you ship to Porto?")
        sim.customer_message(night, wa_id="15550003333", name="Carla Dias", text="Can I change my address?")
        sim.advance("110m")
        sim.customer_message(ch, wa_id="15550001111", name="Ana Silva", text="Thanks! Any news?")
        sim.advance("40m")
        sim.update_policy(ch, reminder_after_hours=4)
        sim.advance("20h")

        names: dict[int, str] = {}
        rows = [e for e in sim.admin_events(ch) if e.type == "policy_changed"]
        for channel in (ch, night):
            for s in sessions_in(sim.runtime.ctx, channel.id):
                names[s.id] = sim.contact_name(s.id)
                rows.extend(sim.timeline(s.id))
        rows.sort(key=lambda e: (e.at, e.id))
        for e in rows:
            describe = DESCRIPTIONS.get(e.type)
            text = describe(dict(e.data)) if describe else e.type.replace("_", " ")
            who = names.get(e.session_id, "") if e.session_id else "(admin)"
            echo(f"{e.at:%a %H:%M:%S}  {who:<14} {text}")
        echo("")
        for m in sim.outbox(ch) + sim.outbox(night):
            echo(f"sent to +{(m.to or '').lstrip('+')} at {m.sent_at:%H:%M:%S}: {m.body}")
        echo(f"\nend of the day at {sim.now:%Y-%m-%d %H:%M}: {len(sim.active_sessions(ch))} active sessions left")


@click.command()
@click.option("--start", default="2026-01-05T09:00:00Z", show_default=True, help="Virtual start time (UTC).")
def demo(start: str) -> None:
    """A scripted day on a virtual clock, printed as a timeline."""
    run_demo(start, click.echo)
