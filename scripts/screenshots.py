"""Screenshots of the dashboard for the README, from a seeded sandbox in Debian's chromium.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--images docs/images]

Seeds a Simulator (manual clock, fake Cloud API) with a few chats in different states, serves its
dashboard on a free localhost port and photographs the active-chat list and the settings page
(--out), and the chat list, a session page and the list on a 390 px phone (--images).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from wasession.services import agents
from wasession.store.channels import Channel
from wasession.testing import Simulator
from wasession.testing.harness import add_admin, add_sandbox_channel, served

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USERNAME, PASSWORD = "admin", "screenshots-only"
ROOT = Path(__file__).resolve().parent.parent


def seed(sim: Simulator) -> Channel:
    """Monday 08:00 to Tuesday 07:40: one chat eligible for closure with its window closing within the
    hour, one awaiting the customer, fresh ones awaiting an agent, one on the sandbox."""
    support = sim.add_channel(
        name="Acme Support",
        session_timeout="20h",
        closure_check="12h",
        closure_check_anchor="03:00",
        timezone="Europe/Lisbon",
        reminder_enabled=True,
        reminder_after_hours=18,
        company_name="Acme",
        reminder_template="Hi {contact_firstname}! {company_name|We} here: is there anything else we can help with?",
    )
    sandbox = add_sandbox_channel(sim, reminder_enabled=True, reminder_after_hours=1, session_timeout="2h")
    sim.customer_message(support, wa_id="351910000001", name="Bruno Costa", text="My parcel has not arrived yet.")
    sim.advance("10h")
    sim.customer_message(support, wa_id="351910000002", name="Carla Mendes", text="Can I change my delivery address?")
    sim.advance("5m")
    carla = sim.session(support, wa_id="351910000002").id
    agents.send_text(sim.runtime.ctx, carla, "Of course. Which address should we use?")
    sim.advance("13h")
    sim.customer_message(support, wa_id="447700900003", name="Daniel Okafor", text="Do you ship to the UK?")
    sim.advance("20m")
    sim.customer_message(sandbox, wa_id="15550001111", name="Ana Silva", text="Hi, is my order ready?")
    sim.advance("5m")
    sim.customer_message(support, wa_id="34600000004", name="Elena Ruiz", text="Hola, a question about invoice 2231")
    sim.advance("10m")
    return support


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    args.images.mkdir(parents=True, exist_ok=True)
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: apt-get install -y chromium", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    with Simulator(start="2026-03-09T08:00:00Z") as sim:
        support = seed(sim)
        add_admin(sim, USERNAME, PASSWORD)
        with served(sim) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720}, device_scale_factor=1)
            page.goto(url + "/dashboard/login")
            page.get_by_label("Username").fill(USERNAME)
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url("**/dashboard/chats")
            page.locator("tr.chat").first.wait_for()
            page.screenshot(path=args.out / "active-chats.png", full_page=True)
            page.screenshot(path=args.images / "chat-list.png")
            page.get_by_role("link", name="Carla Mendes").click()
            page.locator("#transcript").wait_for()
            page.screenshot(path=args.images / "session.png")
            phone = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
            phone.context.add_cookies(page.context.cookies())
            phone.goto(url + "/dashboard/chats")
            phone.screenshot(path=args.images / "chat-list-phone.png")

            page.goto(f"{url}/dashboard/channels/{support.id}/settings")
            page.get_by_role("button", name="Save").click()
            page.locator("#saved").wait_for()
            page.screenshot(path=args.out / "settings.png", full_page=True)
            browser.close()
    for name in ("active-chats.png", "settings.png"):
        print(args.out / name)
    for name in ("chat-list.png", "session.png", "chat-list-phone.png"):
        print(args.images / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
