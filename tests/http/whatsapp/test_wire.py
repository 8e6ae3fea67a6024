"""The wire's own HTTP/1.1 reading, against raw answers from a real socket on 127.0.0.1: the framings a
server may choose (length, chunks, close), interim answers, and what is not HTTP; the event loop
thread the sends run on (uvloop's where installed); and TLS, verified against the trusted CAs."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.graph_servers import OK_BODY, ok_answer, origin
from wasession.whatsapp.transport import AnswerTooLarge, MaybeSent, NotSent
from wasession.whatsapp.wire import Wire, WireTransport


def _answer(raw: bytes, *, timeout: float = 5.0, cap: int = 1 << 20) -> tuple[int, bytes]:
    transport = WireTransport(timeout=timeout, max_answer_bytes=cap)
    try:
        with origin(lambda: [raw]) as srv:
            answer = transport.post(srv.url + "/v25.0/1/messages", b"{}", {"Authorization": "Bearer t"})
        return answer.status, answer.body
    finally:
        transport.close()


def test_a_chunked_answer_is_read_whole() -> None:
    raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n"
    assert _answer(raw) == (200, b"hello world")


def test_an_answer_delimited_by_the_close_is_read_to_its_end() -> None:
    assert _answer(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"a":1}') == (200, b'{"a":1}')


def test_an_interim_answer_is_skipped() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    assert _answer(raw) == (201, b"ok")


@pytest.mark.parametrize(
    "raw",
    [
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    ],
)
def test_what_is_not_a_whole_http_answer_may_have_been_sent(raw: bytes) -> None:
    """The request had left: the message may be on its way, so the sender must not send it again."""
    with pytest.raises(MaybeSent) as caught:
        _answer(raw)
    assert not isinstance(caught.value, AnswerTooLarge)


def test_a_chunked_answer_past_the_cap_is_refused() -> None:
    chunk = b"%x\r\n%s\r\n" % (600, b"x" * 600)
    with pytest.raises(AnswerTooLarge):
        _answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 2 + b"0\r\n\r\n", cap=1000)


def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    transport = WireTransport(timeout=5.0)
    try:
        with origin(lambda: [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"]) as srv:
            with pytest.raises(ValueError, match="invalid header"):
                transport.post(srv.url + "/x", b"{}", {"Authorization": "Bearer t\r\nX-Evil: 1"})
            assert srv.arrived == []
    finally:
        transport.close()


def test_the_wire_runs_a_batch_on_its_thread_and_cancels_what_is_left_when_closed() -> None:
    wire = Wire("test-wire")
    threads: list[str] = []
    never = threading.Event()

    async def where(n: int) -> int:
        threads.append(threading.current_thread().name)
        return n * 2

    async def forever() -> int:
        await asyncio.get_running_loop().run_in_executor(None, never.wait, 30)
        return 0

    done = wire.start([lambda n=n: where(n) for n in range(3)])
    assert [f.result(5) for f in done] == [0, 2, 4] and set(threads) == {"test-wire"}
    (hanging,) = wire.start([forever])

    async def inside() -> int:
        return wire.call(where(1))

    with pytest.raises(RuntimeError, match="own thread"):
        wire.call(inside())
    wire.close()
    never.set()
    assert hanging.cancelled()


def test_the_wire_runs_on_uvloop_where_it_is_installed() -> None:
    uvloop = pytest.importorskip("uvloop", reason="uvloop comes with uvicorn[standard]; asyncio's loop is used without")
    wire = Wire("test-wire-loop")
    try:
        assert isinstance(wire.loop, uvloop.Loop)
    finally:
        wire.close()


# -- TLS, as every Graph origin is reached: verified against the CAs this process trusts ----------------------


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA of its own and a certificate it signed for 127.0.0.1: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("wasession test CA"))
        .issuer_name(name("wasession test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


def _tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def test_an_https_origin_with_a_trusted_certificate_is_answered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = _tls_files(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the default context's CAs: this test's own
    transport = WireTransport(timeout=10)
    try:
        with origin(lambda: [ok_answer()], tls=_tls(cert, key)) as srv:
            answer = transport.post(srv.url + "/v25.0/1/messages", b"{}", {"Authorization": "Bearer t"})
    finally:
        transport.close()
    assert srv.url.startswith("https://")
    assert (answer.status, answer.body) == (200, OK_BODY)
    assert len(srv.arrived) == 1


def test_an_https_origin_whose_certificate_is_not_trusted_is_never_sent_the_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, cert, key = _tls_files(tmp_path)
    (tmp_path / "other").mkdir()
    other_ca, _, _ = _tls_files(tmp_path / "other")
    monkeypatch.setenv("SSL_CERT_FILE", str(other_ca))  # trusts a CA that did not sign the origin's certificate
    transport = WireTransport(timeout=10)
    try:
        with (
            origin(lambda: [ok_answer()], tls=_tls(cert, key)) as srv,
            pytest.raises(NotSent, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            transport.post(srv.url + "/v25.0/1/messages", b"{}", {"Authorization": "Bearer t"})
    finally:
        transport.close()
    assert srv.arrived == []  # no request, so the token never left
