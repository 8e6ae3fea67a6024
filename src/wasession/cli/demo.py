"""`wasession demo`: a scripted day on the virtual clock, printed as a readable timeline."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import click

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
    "message_accepted": lambda d: "message accepted by WhatsApp",
    "message_sent": lambda d: "message sent",
    "message_delivered": lambda d: "message delivered",
    "message_read": lambda d: "message read",
    "reminder_queued": lambda d: f"reminder step {d.get('step', 1)} due: queued for sending",
    "reminder_accepted": lambda d: "reminder accepted by WhatsApp",
    "reminder_sent": lambda d: "reminder sent",
    "reminder_delivered": lambda d: "reminder delivered",
    "reminder_read": lambda d: "reminder read",
    "reminder_skipped": lambda d: f"reminder step {d.get('step', 1)} skipped ({d.get('reason')})",
    "session_snoozed": lambda d: f"agent snoozed the session until {_hm(d.get('until'))}",
    "session_woke": lambda d: "snooze over: the timeout counts again from now",
    "closing_message_queued": lambda d: f"closing message queued ({d.get('type')})",
    "closing_message_skipped": lambda d: f"closing message skipped ({d.get('reason')})",
    "session_reopened": lambda d: "customer wrote soon after the closure: session reopened",
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
    # The app, its test client and the services: only the demo pays for them, not every command's start.
    from wasession.runtime.reads import sessions_in
    from wasession.services import agents
    from wasession.simulation import Simulator

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
        sales = sim.add_channel(
            name="Acme Sales",
            session_timeout="20h",
            reminder_enabled=True,
            reminder_steps=[
                {"after": "1h", "template": "Hi {contact_firstname|there}, any questions about the quote?"},
                {"after": "4h", "template": "Just checking in, {contact_firstname|there}."},
                {"before_window_closes": "6h", "template": "Last reminder: the quote is valid until tomorrow."},
            ],
            closing_message="Thanks {contact_firstname|there}, we are closing this chat. Write any time!",
            closing_template={"name": "chat_closed", "language": "en_US"},
        )
        echo(f"wasession demo: a day on a virtual clock starting {sim.now:%Y-%m-%d %H:%M} UTC")
        echo("  channel 'Acme Support': reminder 3 h after the customer's last message, close after 6 h (exact)")
        echo("  channel 'Acme Night Desk': close after 2 h, checked every 12 h at 03:00/15:00")
        echo(
            "  channel 'Acme Sales': reminders 1 h and 4 h after the customer's last message and 6 h before the"
            " window closes, close after 20 h with a closing message (a template once the window is over)\n"
        )
        sim.customer_message(sales, wa_id="15550004444", name="Dana Reis", text="Can you send me a quote?")
        sim.advance("10m")
        sim.customer_message(sales, wa_id="15550005555", name="Eva Lima", text="I'll think about it.")
        sim.advance("10m")
        sim.snooze(sales, wa_id="15550005555", until="4h")  # Eva said she would think: no nudges for 4 h

        sim.customer_message(ch, wa_id="15550001111", name="Ana Silva", text="Hi, is my order ready?")
        sim.advance("5m")  # 09:25
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
        for channel in (ch, night, sales):
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
        for m in sim.outbox(ch) + sim.outbox(night) + sim.outbox(sales):
            echo(f"sent to +{(m.to or '').lstrip('+')} at {m.sent_at:%H:%M:%S}: {m.body}")
        echo(f"\nend of the day at {sim.now:%Y-%m-%d %H:%M}: {len(sim.active_sessions(ch))} active sessions left")


@click.command()
@click.option("--start", default="2026-01-05T09:00:00Z", show_default=True, help="Virtual start time (UTC).")
def demo(start: str) -> None:
    """A scripted day on a virtual clock, printed as a timeline."""
    run_demo(start, click.echo)
