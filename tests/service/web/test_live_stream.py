"""The dashboard's live stream on a real port: what it says, to whom, and its bounds."""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from wasession.testing import Simulator
from wasession.testing.harness import add_admin, add_sandbox_channel, served
from wasession.web import live

PASSWORD = "correct horse battery"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Simulator, str]]:
    monkeypatch.setattr(live, "POLL", 0.2)  # real seconds between the stream's looks
    monkeypatch.setattr(live, "HEARTBEAT", 0.5)
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        add_sandbox_channel(sim)
        add_admin(sim, "alice", PASSWORD)
        add_admin(sim, "bob", PASSWORD, workspace="elsewhere")
        with served(sim) as url:
            yield sim, url


def logged_in(url: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=url, timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/dashboard/login").text)
    assert token
    answer = client.post(
        "/dashboard/login",
        data={"username": username, "password": PASSWORD, "csrf_token": token.group(1)},
        headers={"Origin": url},
    )
    assert answer.status_code == 303
    return client


class Stream:
    """Reads one live stream in a thread, collecting its events as (name, data)."""

    def __init__(self, client: httpx.Client) -> None:
        self.events: list[tuple[str, Any]] = []
        self.ended = threading.Event()
        self.ready = threading.Event()
        self._client = client
        threading.Thread(target=self._read, daemon=True).start()
        assert self.ready.wait(10), "the stream did not start"

    def _read(self) -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server stopped at the end of the test
            self._lines()
        self.ended.set()

    def _lines(self) -> None:
        name = ""
        with self._client.stream("GET", "/dashboard/live") as answer:
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    self.events.append((name, json.loads(line[6:])))
                    if name == "ready":
                        self.ready.set()
                elif line.startswith(":"):
                    self.events.append(("heartbeat", None))

    def wait_for(self, name: str, timeout: float = 10) -> Any:
        done = threading.Event()
        for _ in range(int(timeout / 0.05)):
            found = [data for n, data in self.events if n == name]
            if found:
                return found[-1]
            done.wait(0.05)  # a real stream on a real port: polling it in real time is the test
        raise AssertionError(f"no {name!r} event; got {self.events}")


def test_an_agent_hears_of_their_workspace_s_sessions_only(server: tuple[Simulator, str]) -> None:
    sim, url = server
    alice, bob = Stream(logged_in(url, "alice")), Stream(logged_in(url, "bob"))
    sim.customer_message(sim.channel(1), wa_id="15550001111", name="Ana Silva", text="hello")
    session_id = sim.session(1, wa_id="15550001111").id
    change = alice.wait_for("change")
    assert change["sessions"] == [session_id] and change["customer"] == [session_id]
    bob.wait_for("heartbeat")
    assert [n for n, _ in bob.events if n == "change"] == []


def test_at_most_four_streams_per_user_and_logout_ends_them(server: tuple[Simulator, str]) -> None:
    _, url = server
    client = logged_in(url, "alice")
    streams = [Stream(client) for _ in range(live.MAX_PER_USER)]
    refused = client.get("/dashboard/live")
    assert refused.status_code == 429 and "At most 4 live pages" in refused.text
    page = client.get("/dashboard/chats").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    assert client.post("/dashboard/logout", data={"csrf_token": csrf.group(1)}).status_code == 303
    for stream in streams:
        assert stream.ended.wait(10), "a stream outlived its login"
        assert stream.events[-1][0] == "logout"
    assert httpx.get(url + "/dashboard/live", follow_redirects=False).status_code in (303, 401)
