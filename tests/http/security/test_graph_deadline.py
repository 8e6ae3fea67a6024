"""A Graph origin cannot hold a send for longer than the exchange's total deadline, nor make the sender
read an answer of any size: both transports, against real servers on 127.0.0.1."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.support.graph_servers import OK_BODY, flood, ok_answer, origin, trickled
from wasession.whatsapp.client import CloudClient
from wasession.whatsapp.errors import OutcomeUnknownError
from wasession.whatsapp.transport import AnswerTooLarge, DeadlinePassed, HttpxTransport, Transport
from wasession.whatsapp.wire import WireTransport

DEADLINE = 0.6
GAP = 0.05  # far below any per-read timeout: only a total deadline cuts this server off
BIG = 200 << 20


def _pooled() -> Transport:
    return WireTransport(timeout=DEADLINE, connect_timeout=DEADLINE)


def _httpx() -> Transport:
    return HttpxTransport(httpx.Client(timeout=5.0), deadline=DEADLINE)


def test_the_pooled_transport_cuts_a_trickled_answer_at_the_deadline() -> None:
    answer = ok_answer()
    assert len(answer) * GAP > 4 * DEADLINE  # served whole, it would take far longer than the deadline
    with origin(trickled(answer), gap=GAP) as srv:
        began = time.monotonic()
        with pytest.raises(DeadlinePassed):
            _pooled().post(srv.url + "/v25.0/1/messages", b"{}", {})
        took = time.monotonic() - began
    assert DEADLINE * 0.9 <= took < 2 * DEADLINE + 0.5  # slack for a loaded machine


def test_the_httpx_transport_cuts_a_trickled_body_at_the_deadline() -> None:
    padded = OK_BODY + b" " * 100
    assert len(padded) * GAP > 4 * DEADLINE
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(padded)
    body = trickled(padded)
    with origin(lambda: [head, *body()], gap=GAP) as srv:
        began = time.monotonic()
        with pytest.raises(DeadlinePassed):
            _httpx().post(srv.url + "/v25.0/1/messages", b"{}", {})
        took = time.monotonic() - began
    assert took < 2 * DEADLINE + 0.5  # past the deadline by at most a gap, and a loaded machine's slack


@pytest.mark.parametrize("make", [_pooled, _httpx], ids=["pooled", "httpx"])
@pytest.mark.parametrize("declare", [True, False], ids=["declared", "undeclared"])
def test_an_oversized_answer_is_refused_without_reading_it_whole(make: Callable[[], Transport], declare: bool) -> None:
    transport: Transport = make()
    with origin(flood(BIG, declare=declare)) as srv, pytest.raises(AnswerTooLarge):
        transport.post(srv.url + "/v25.0/1/messages", b"{}", {})
    assert srv.sent and srv.sent[0] < 16 << 20  # a few megabytes of socket buffers at most, not 200


def test_the_client_records_a_cut_exchange_as_outcome_unknown() -> None:
    """The request had left: the message may be on its way, so the sender must never resend it."""
    with origin(trickled(ok_answer()), gap=GAP) as srv:
        client = CloudClient(_pooled(), base_url=srv.url)
        with pytest.raises(OutcomeUnknownError):
            client.send_text(phone_number_id="1", access_token="t", to="15550001", body="hi")
    with origin(flood(BIG, declare=False)) as srv:
        client = CloudClient(_pooled(), base_url=srv.url)
        with pytest.raises(OutcomeUnknownError):
            client.send_text(phone_number_id="1", access_token="t", to="15550001", body="hi")


@pytest.mark.parametrize("make", [_pooled, _httpx], ids=["pooled", "httpx"])
def test_an_ordinary_answer_still_arrives_whole(make: Callable[[], Transport]) -> None:
    transport: Transport = make()
    with origin(lambda: [ok_answer()]) as srv:
        answer = transport.post(srv.url + "/v25.0/1/messages", b"{}", {})
    assert answer.status == 200 and answer.body == OK_BODY
