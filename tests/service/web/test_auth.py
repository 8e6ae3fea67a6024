"""Login, logout, expiry, and the admin-user CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.support.web import PASSWORD, Browser
from wasession.cli import main
from wasession.services import users as user_service
from wasession.store.schema import login_sessions, users
from wasession.testing import Simulator
from wasession.web.auth import COOKIE


def test_pages_need_a_login(sim: Simulator) -> None:
    b = Browser(sim)
    for path in ("/", "/dashboard/chats", "/dashboard/channels/1/settings", "/dashboard/preview"):
        response = b.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] in ("/dashboard/login", "/dashboard/chats")
    assert b.get("/dashboard/chats").headers["location"] == "/dashboard/login"


def test_login_with_the_right_password_opens_the_dashboard(sim: Simulator) -> None:
    user_service.create_user(sim.runtime.ctx, "admin", PASSWORD)
    b = Browser(sim)
    response = b.login()
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/chats"
    cookie = response.headers["set-cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    page = b.get("/dashboard/chats")
    assert page.status_code == 200 and "Active chats" in page.text and "admin" in page.text
    # Only a hash of the cookie token is stored.
    token = b.client.cookies[COOKIE]
    with sim.runtime.db.read() as conn:
        stored = conn.execute(select(login_sessions.c.token_hash)).scalars().all()
    assert len(stored) == 1 and token not in stored[0] and len(stored[0]) == 64


@pytest.mark.parametrize(("username", "password"), [("admin", "wrong password"), ("nobody", PASSWORD)])
def test_a_wrong_name_or_password_is_refused(sim: Simulator, username: str, password: str) -> None:
    user_service.create_user(sim.runtime.ctx, "admin", PASSWORD)
    b = Browser(sim)
    response = b.login(username, password)
    assert response.status_code == 401
    assert "Wrong username or password." in response.text
    assert COOKIE not in b.client.cookies
    assert b.get("/dashboard/chats").status_code == 303


def test_a_wrong_name_costs_the_same_scrypt_as_a_wrong_password(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown username is checked against a stand-in hash at the cost in force, so timing does not tell
    which names exist; the stand-in is never computed (no scrypt at import, none extra at the first login)."""
    user_service.create_user(sim.runtime.ctx, "admin", PASSWORD)
    calls: list[tuple[int, int, int]] = []
    real = user_service._scrypt

    def counted(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        calls.append((n, r, p))
        return real(password, salt, n, r, p)

    monkeypatch.setattr(user_service, "_scrypt", counted)
    costs = []
    for username, password in (("admin", "wrong password"), ("nobody", PASSWORD), ("nobody", PASSWORD)):
        calls.clear()
        assert user_service.authenticate(sim.runtime.ctx, username, password) is None
        costs.append(list(calls))
    cost = (user_service._N, user_service._R, user_service._P)
    assert costs == [[cost], [cost], [cost]]


def test_the_login_form_needs_its_csrf_token(sim: Simulator) -> None:
    user_service.create_user(sim.runtime.ctx, "admin", PASSWORD)
    b = Browser(sim)
    b.get("/dashboard/login")  # sets the login CSRF cookie
    for token in ("", "not-the-cookie"):
        response = b.post("/dashboard/login", {"username": "admin", "password": PASSWORD}, csrf=token)
        assert response.status_code == 403
        assert COOKIE not in b.client.cookies


def test_logout_ends_the_session_on_the_server(sim: Simulator) -> None:
    user_service.create_user(sim.runtime.ctx, "admin", PASSWORD)
    b = Browser(sim)
    b.login()
    token = b.client.cookies[COOKIE]
    response = b.post("/dashboard/logout", {})
    assert response.status_code == 303 and response.headers["location"] == "/dashboard/login"
    # Even a copy of the old cookie no longer works.
    b.client.cookies.set(COOKIE, token)
    assert b.get("/dashboard/chats").status_code == 303


def test_a_login_expires(sim: Simulator) -> None:
    user_service.create_user(sim.runtime.ctx, "admin", PASSWORD)
    b = Browser(sim)
    b.login()
    sim.advance(user_service.LOGIN_TTL - timedelta(seconds=1))
    assert b.get("/dashboard/chats").status_code == 200
    sim.advance("1s")
    assert b.get("/dashboard/chats").status_code == 303


def test_passwords_are_salted_scrypt_hashes() -> None:
    first, second = user_service.hash_password(PASSWORD), user_service.hash_password(PASSWORD)
    assert first.startswith("scrypt$") and first != second and PASSWORD not in first
    assert user_service.verify_password(PASSWORD, first)
    assert not user_service.verify_password(PASSWORD + "x", first)
    assert not user_service.verify_password(PASSWORD, "garbage")


def test_create_user_refuses_short_passwords_and_duplicates(sim: Simulator) -> None:
    ctx = sim.runtime.ctx
    with pytest.raises(user_service.ValidationError) as short:
        user_service.create_user(ctx, "admin", "short")
    assert short.value.field == "password"
    user_service.create_user(ctx, "admin", PASSWORD)
    with pytest.raises(user_service.ConflictError) as duplicate:
        user_service.create_user(ctx, "admin", PASSWORD)
    assert duplicate.value.field == "username"


def test_cli_creates_an_admin_who_can_log_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WASESSION_ADMIN_PASSWORD", PASSWORD)
    result = CliRunner().invoke(
        main,
        ["--database-url", url, "users", "create", "--username", "ops", "--workspace", "acme", "--create-workspace"],
    )
    assert result.exit_code == 0, result.output
    assert "Created admin user 'ops' in workspace 'acme'" in result.output
    assert PASSWORD not in result.output
    again = CliRunner().invoke(main, ["--database-url", url, "users", "create", "--username", "ops"])
    assert again.exit_code != 0 and "already exists" in again.output

    from wasession.config import Settings
    from wasession.runtime import Runtime

    runtime = Runtime(Settings(database_url=url))
    try:
        with runtime.db.read() as conn:
            row = conn.execute(select(users.c.username, users.c.is_admin, users.c.password_hash)).one()
        assert row.username == "ops" and row.is_admin and row.password_hash.startswith("scrypt$")
        assert user_service.authenticate(runtime.ctx, "ops", PASSWORD) is not None
    finally:
        runtime.stop()


def test_the_product_hashes_at_owasps_minimum_and_verifies_any_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite hashes cheaply (tests/conftest.py); the product's own cost is 2**14 (16 MiB), and a hash
    made at either cost verifies, since each hash names its cost."""
    from tests.conftest import PRODUCT_SCRYPT_N, TEST_SCRYPT_N
    from wasession.services import users as user_service

    assert PRODUCT_SCRYPT_N == [2**14]
    monkeypatch.setattr(user_service, "_N", PRODUCT_SCRYPT_N[0])
    product = user_service.hash_password("s3cret pass")
    assert product.split("$")[1] == str(2**14)
    monkeypatch.setattr(user_service, "_N", TEST_SCRYPT_N)
    assert user_service.verify_password("s3cret pass", product)
    assert not user_service.verify_password("wrong", product)
