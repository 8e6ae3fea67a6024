"""Dashboard login: an opaque session cookie, and a CSRF token checked on every form.

The login form itself has no session yet, so it uses a double-submit token: a random cookie that
the form must repeat. A cookie can be planted from a sibling subdomain, so the login POST must also
come from this server's own origin (Origin, else Referer). Logged-in forms repeat the login session's
own token instead. Failed logins are throttled per username and per address (web/throttle.py).
"""

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wasession.runtime import Runtime
from wasession.runtime_scope import RuntimeDep, per_runtime
from wasession.services import users as user_service
from wasession.services.users import LoginSession
from wasession.web.render import page
from wasession.web.throttle import HashGate, HashingBusy, LoginThrottle

COOKIE = "wasession_login"
LOGIN_CSRF_COOKIE = "wasession_login_csrf"
LOGIN_PATH = "/dashboard/login"
HOME_PATH = "/dashboard/chats"


class NotLoggedIn(Exception):
    pass


class CsrfRefused(Exception):
    pass


class AdminOnly(Exception):
    """An agent asked for a page or form only admins may use (docs/security.md, "Roles")."""


@dataclass(frozen=True)
class Form:
    login: LoginSession
    values: dict[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)


def _same(given: object, expected: str) -> bool:
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


# The guards every dashboard route depends on; each finds the runtime in the request (runtime_scope).
async def login(request: Request, runtime: RuntimeDep) -> LoginSession:
    session = await run_in_threadpool(user_service.session_for_token, runtime.ctx, request.cookies.get(COOKIE))
    if session is None:
        raise NotLoggedIn
    return session


async def form(request: Request, runtime: RuntimeDep) -> Form:
    """A logged-in user's form whose CSRF token matches their login session's, or a 403."""
    session = await login(request, runtime)
    data = await request.form()
    if not _same(data.get("csrf_token"), session.csrf_token):
        raise CsrfRefused
    return Form(session, {k: v for k, v in data.items() if isinstance(v, str)})


async def admin(request: Request, runtime: RuntimeDep) -> LoginSession:
    """A logged-in admin, or a 403 for an agent."""
    session = await login(request, runtime)
    if not session.is_admin:
        raise AdminOnly
    return session


async def admin_form(request: Request, runtime: RuntimeDep) -> Form:
    """An admin's form with a valid CSRF token; an agent's is refused before it is read."""
    await admin(request, runtime)
    return await form(request, runtime)


@dataclass
class LoginLimits:
    """One runtime's failed-login counters and password-hash slots (kept per runtime: runtime_scope)."""

    throttle: LoginThrottle
    hashing: HashGate

    @staticmethod
    def of(runtime: Runtime) -> "LoginLimits":
        return per_runtime(runtime, LoginLimits, LoginLimits._make)

    @staticmethod
    def _make(runtime: Runtime) -> "LoginLimits":
        settings = runtime.settings
        return LoginLimits(
            LoginThrottle(
                runtime.clock,
                per_user=settings.login_failures_per_user,
                per_address=settings.login_failures_per_address,
                window=timedelta(minutes=settings.login_failure_window_minutes),
            ),
            HashGate(settings.password_hash_concurrency),
        )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _same_origin(request: Request, public_url: str | None) -> bool:
    """The login form was posted from a page of this server; a request naming no origin at all (not
    a browser, or a very old one) is let through to the token check."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    if source == "null":
        return False
    given = urlsplit(source)
    own = {(request.url.scheme, request.headers.get("host", ""))}
    if public_url:
        public = urlsplit(public_url)
        own.add((public.scheme, public.netloc))
    return (given.scheme, given.netloc) in own


def install_handlers(app: FastAPI) -> None:
    async def not_logged_in(request: Request, _: Exception) -> Response:
        return RedirectResponse(LOGIN_PATH, status_code=303)

    async def csrf_refused(request: Request, _: Exception) -> Response:
        return HTMLResponse(
            "<h1>403 Forbidden</h1><p>The form's security token is missing or out of date. "
            '<a href="/dashboard/chats">Reload the dashboard</a> and try again.</p>',
            status_code=403,
        )

    async def admin_only(request: Request, _: Exception) -> Response:
        return HTMLResponse(
            "<h1>403 Forbidden</h1><p>Only an admin can change settings, channels, API keys, users and event "
            'webhooks; your account is an agent\'s. <a href="/dashboard/chats">Back to the chats</a>.</p>',
            status_code=403,
        )

    app.add_exception_handler(NotLoggedIn, not_logged_in)
    app.add_exception_handler(CsrfRefused, csrf_refused)
    app.add_exception_handler(AdminOnly, admin_only)


router = APIRouter()


def login_page(
    runtime: Runtime, request: Request, error: str | None = None, username: str = "", status_code: int = 200
) -> Response:
    token = secrets.token_urlsafe(32)
    response = page(
        runtime,
        request,
        "login.html",
        None,
        status_code=status_code,
        csrf_token=token,
        error=error,
        username=username,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path=LOGIN_PATH
    )
    return response


@router.get("/", include_in_schema=False)
async def root() -> Response:
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get("/dashboard", include_in_schema=False)
async def dashboard_root() -> Response:
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get(LOGIN_PATH, include_in_schema=False)
async def login_form(request: Request, runtime: RuntimeDep) -> Response:
    return login_page(runtime, request)


@router.post(LOGIN_PATH, include_in_schema=False)
async def login_submit(request: Request, runtime: RuntimeDep) -> Response:
    if not _same_origin(request, runtime.settings.public_url):
        raise CsrfRefused
    data = await request.form()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not _same(data.get("csrf_token"), expected):
        raise CsrfRefused
    username, password = str(data.get("username", "")), str(data.get("password", ""))
    address = request.client.host if request.client else "unknown"
    limits = LoginLimits.of(runtime)
    throttle, hashing = limits.throttle, limits.hashing
    wait = throttle.retry_after(username, address)
    if wait is not None:
        response = login_page(
            runtime,
            request,
            f"Too many failed logins. Try again in {wait} second{'s' if wait > 1 else ''}.",
            username,
            status_code=429,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    slow_down = throttle.slow_down(username)
    if slow_down:
        await throttle.sleep(slow_down)
    try:
        async with hashing.slot():
            login = await run_in_threadpool(user_service.authenticate, runtime.ctx, username, password)
    except HashingBusy:
        response = login_page(runtime, request, "The server is busy. Try again in a moment.", username, status_code=503)
        response.headers["Retry-After"] = "5"
        return response
    if login is None:
        throttle.failed(username, address)
        return login_page(runtime, request, "Wrong username or password.", username, status_code=401)
    throttle.succeeded(username, address)
    response = RedirectResponse(HOME_PATH, status_code=303)
    response.set_cookie(
        COOKIE,
        login.token,
        max_age=int(user_service.LOGIN_TTL.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@router.post("/dashboard/logout", include_in_schema=False)
async def logout(request: Request, runtime: RuntimeDep, _: Annotated[Form, Depends(form)]) -> Response:
    await run_in_threadpool(user_service.logout, runtime.ctx, request.cookies.get(COOKIE))
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
