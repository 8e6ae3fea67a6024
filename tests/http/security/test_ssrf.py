"""Event webhook URLs cannot reach this machine or its network (SSRF), in any spelling, at save time or
after a DNS answer changes; failures are reported by category, never as a raw connection error."""

from __future__ import annotations

import socket

import pytest

from tests.support.security import SECRET, Tenant
from tests.support.servers import answer_ok, answer_status, serve
from wasession.config import Settings

REFUSED = [
    "http://127.0.0.1/hook",
    "http://127.1/hook",
    "http://0x7f000001/hook",
    "http://2130706433/hook",
    "http://0177.0.0.1/hook",
    "http://0x7f.0.0.1/hook",
    "http://127.0.0.1.:8080/hook",
    "http://localhost:8000/hook",
    "http://[::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://user@crm.example/hook",
    "http://user:pw@crm.example/hook",
    "http://crm.example@127.0.0.1/hook",
    "http://10.0.0.5/hook",
    "http://172.16.3.4/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://[fe80::1]/hook",
    "http://224.0.0.1/hook",
    "http://[ff02::1]/hook",
    "http://0.0.0.0/hook",
    "http://0/hook",
    "http://[::]/hook",
    "http://100.64.0.1/hook",
    "http://[fc00::1]/hook",
    "http://[fd12:3456::1]/hook",
    "ftp://crm.example/hook",
    "file:///etc/passwd",
    "gopher://crm.example/hook",
]


def test_a_non_public_or_malformed_url_is_refused_on_create_and_update(default_policy: Tenant) -> None:
    # One Simulator for every spelling (a Simulator per URL would cost a second each).
    for url in REFUSED:
        response = default_policy.call("POST", "/event-webhooks", json={"url": url, "secret": SECRET})
        assert response.status_code == 422, (url, response.text)
        error = response.json()["error"]
        assert error["field"] == "url" and error["message"], url
    assert default_policy.call("GET", "/event-webhooks").json() == []  # nothing was created

    hook = default_policy.add_hook("https://crm.example.com/hook")
    for url in REFUSED:
        patched = default_policy.call("PATCH", f"/event-webhooks/{hook['id']}", json={"url": url})
        assert patched.status_code == 422 and patched.json()["error"]["field"] == "url", url
    assert default_policy.call("GET", f"/event-webhooks/{hook['id']}").json()["url"] == "https://crm.example.com/hook"


def test_the_refusal_says_why(default_policy: Tenant) -> None:
    response = default_policy.call("POST", "/event-webhooks", json={"url": "http://0x7f000001/", "secret": SECRET})
    message = response.json()["error"]["message"]
    assert "loopback" in message and "127.0.0.1" in message and "WASESSION_OUTBOUND_ALLOW" in message


def test_public_urls_and_hostnames_are_accepted(default_policy: Tenant) -> None:
    for url in ("https://crm.example.com/hook", "http://93.184.216.34:8080/in?x=1", "https://[2606:4700::1111]/h"):
        default_policy.add_hook(url)


def test_the_operator_allowlist_admits_what_it_lists_and_nothing_else(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.security import tenant_of
    from wasession.testing import Simulator

    monkeypatch.setenv("WASESSION_OUTBOUND_ALLOW", "crm.lan, 10.0.0.0/8,127.0.0.1")
    with Simulator(start="2026-01-05T15:00:00Z") as sim:
        tenant = tenant_of(sim)
        for url in ("http://crm.lan:8080/hook", "http://10.1.2.3/hook", "http://127.0.0.1:9/hook"):
            tenant.add_hook(url)
        for url in ("http://192.168.1.1/hook", "http://127.0.0.2/hook", "http://[::1]/hook"):
            response = tenant.call("POST", "/event-webhooks", json={"url": url, "secret": SECRET})
            assert response.status_code == 422 and response.json()["error"]["field"] == "url", url


def test_a_malformed_allowlist_is_refused_at_start_up() -> None:
    with pytest.raises(ValueError, match="WASESSION_OUTBOUND_ALLOW"):
        Settings(outbound_allow="crm.lan,10.0.0.0/33 x")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_test_send_reports_a_category_not_the_connection_error(local_allowed: Tenant) -> None:
    hook = local_allowed.add_hook(f"http://127.0.0.1:{_closed_port()}/hook")
    sent = local_allowed.call("POST", f"/event-webhooks/{hook['id']}/test").json()
    assert sent["status"] == "failed" and sent["last_error"] == "connect_failed"
    assert "refused" not in sent["last_error"].lower() and "errno" not in str(sent).lower()

    with serve(answer_status(503)) as down:
        local_allowed.call("PATCH", f"/event-webhooks/{hook['id']}", json={"url": down.url})
        sent = local_allowed.call("POST", f"/event-webhooks/{hook['id']}/test").json()
    assert (sent["last_error"], sent["last_status_code"]) == ("http_503", 503)


class Dns:
    """A scripted resolver: the answers a name has now, and every question asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return list(self.answers[host])


REBOUND = [["127.0.0.1"], ["93.184.216.34", "127.0.0.1"], ["::ffff:127.0.0.1"], ["10.0.0.1"], ["169.254.169.254"]]


def test_a_name_that_rebinds_to_a_local_address_is_refused_at_delivery(default_policy: Tenant) -> None:
    sim = default_policy.sim
    dns = Dns({})
    sim.runtime.event_dispatch.resolver = dns
    with serve(answer_ok) as local:
        for n, rebound in enumerate(REBOUND):
            host = f"crm{n}.example.com"
            dns.answers[host] = ["93.184.216.34"]  # public when the URL is saved
            hook = default_policy.add_hook(f"http://{host}:{local.port}/hook")
            dns.answers[host] = rebound  # and then it points at us
            dns.asked.clear()
            sent = default_policy.call("POST", f"/event-webhooks/{hook['id']}/test").json()
            assert (sent["last_error"], sent["last_status_code"]) == ("refused_address", None), rebound
            assert dns.asked == [host]
            default_policy.call("DELETE", f"/event-webhooks/{hook['id']}")
        assert local.requests == []  # no connection ever reached the local server


def test_delivery_connects_to_the_checked_address_and_keeps_the_hostname(local_allowed: Tenant) -> None:
    sim = local_allowed.sim
    dns = Dns({"crm.example.com": ["127.0.0.1"]})  # allowed here: 127.0.0.1 is on the allowlist
    sim.runtime.event_dispatch.resolver = dns
    with serve(answer_ok) as crm:
        hook = local_allowed.add_hook(f"http://crm.example.com:{crm.port}/in?src=wa")
        sim.add_channel()
        sim.run_due()
        (request,) = crm.requests
    # The name was resolved once, by us, and the call went to that answer (no real DNS knows this name).
    assert dns.asked == ["crm.example.com"]
    assert request.head["host"] == f"crm.example.com:{crm.port}"
    assert request.head["request-line"] == "POST /in?src=wa HTTP/1.1"
    (d,) = local_allowed.deliveries(hook["id"])
    assert d["status"] == "delivered"


def test_an_unresolvable_name_is_a_connect_failure(default_policy: Tenant) -> None:
    sim = default_policy.sim
    sim.runtime.event_dispatch.resolver = Dns({})
    hook = default_policy.add_hook("https://nowhere.example.com/hook")
    sent = default_policy.call("POST", f"/event-webhooks/{hook['id']}/test").json()
    assert sent["last_error"] == "connect_failed"


def test_what_is_sent_is_what_was_checked() -> None:
    from wasession.outbound.addresses import AddressPolicy, check_url

    target = check_url("https://bücher.example/ä?x=ü#frag", AddressPolicy())
    # The checked name is the one DNS and the Host header get, and the request line is plain ASCII.
    assert (target.host, target.host_header) == ("xn--bcher-kva.example", "xn--bcher-kva.example")
    assert target.path == "/%C3%A4?x=%C3%BC"
