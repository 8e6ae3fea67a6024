"""Security headers, /docs without a CDN, a token on /metrics, API keys kept out of logs, and a
private SQLite file."""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from tests.support.web import PASSWORD, Browser
from wasession.observability.logging import formatter
from wasession.store.db import connect
from wasession.testing import Simulator
from wasession.testing.harness import add_admin

EXPECTED = {
    "x-frame-options": "DENY",
    "content-security-policy": "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(start="2026-01-05T15:00:00Z") as s:
        yield s


def test_dashboard_and_api_answers_carry_security_headers(sim: Simulator) -> None:
    add_admin(sim, "admin", PASSWORD)
    browser = Browser(sim)
    assert browser.login().status_code == 303
    for path in ("/dashboard/login", "/dashboard/chats", "/api/v1/sessions", "/healthz", "/docs", "/nope"):
        response = browser.get(path)
        for name, value in EXPECTED.items():
            assert response.headers.get(name) == value, (path, name, dict(response.headers))


def test_docs_load_their_assets_from_this_server(sim: Simulator) -> None:
    page = sim.client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text) + re.findall(r"url: '([^']+)'", page.text)
    assert urls and all(u.startswith("/") for u in urls), urls
    for url in urls:
        assert sim.client.get(url).status_code == 200, url
    assert "swagger" in sim.client.get("/docs/assets/swagger-ui-bundle.js").text.lower()[:5000]


def test_metrics_token_is_required_once_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WASESSION_METRICS_TOKEN", "scrape-me-7f3a")
    with Simulator() as sim:
        client = TestClient(sim.app)
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert wrong.json()["error"]["code"] == "unauthorized"
        ok = client.get("/metrics", headers={"Authorization": "Bearer scrape-me-7f3a"})
        assert ok.status_code == 200 and "wasession" in ok.text


def test_metrics_stay_open_without_a_token(sim: Simulator) -> None:
    assert sim.client.get("/metrics").status_code == 200


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_api_keys_are_redacted_from_logs(fmt: str) -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(fmt))
    log = logging.getLogger(f"tests.security.redact.{fmt}")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    key = "wsk_Ab3dEf6hIj9kLmNoPqRsTuVwXyZ_0123-456"
    log.info("request with key %s in the url ?key=%s", key, key)
    assert key not in out.getvalue() and "Ab3dEf6h" not in out.getvalue()
    assert "wsk_[redacted]" in out.getvalue()


def test_sqlite_files_are_created_private(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "private.sqlite3"
        db = connect(f"sqlite:///{path}")
        with db.write() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        with db.read() as conn:
            conn.execute(text("SELECT * FROM t")).all()
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        assert len(files) >= 2
        for p in files:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, (p, oct(p.stat().st_mode))
        db.dispose()
    finally:
        os.umask(old)
