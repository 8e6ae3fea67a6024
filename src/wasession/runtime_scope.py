"""How a route reaches its runtime: through the request, never a closure (issue 24).

The routes are built once per process, on one FastAPI app shared by every runtime in it (the Simulators
of a test run, or the one `serve` starts); `server.create_app` wraps that app once per runtime with a
layer that puts the runtime in each request's ASGI scope under SCOPE_RUNTIME. A handler asks for it with
a `RuntimeDep` parameter, so it stays a plain module-level function that a test can import and call
with a runtime of its own.

State a route keeps between requests (login throttles, the live pages' hub, the metrics gauges) belongs
to one runtime: `per_runtime` keeps it beside the runtime, so two runtimes in one process share none.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Annotated, TypeVar, cast

from fastapi import Depends
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Scope

from wasession.runtime import Runtime

# The ASGI scope keys the per-runtime layer (server.create_app) sets on every request: the runtime, and
# the runtime's whole app (what a route posting a request to its own server calls: web/sandbox.py).
SCOPE_RUNTIME = "wasession.runtime"
SCOPE_FRONT = "wasession.front"

T = TypeVar("T")


class NoRuntime(RuntimeError):
    """A request reached the shared app without passing through a runtime's layer (a wiring bug)."""


def scope_runtime(scope: Scope) -> Runtime:
    """The runtime of an ASGI scope: for the ASGI wrappers that run before FastAPI's dependencies."""
    runtime = scope.get(SCOPE_RUNTIME)
    if not isinstance(runtime, Runtime):
        raise NoRuntime("this request was not sent through server.create_app's runtime layer")
    return runtime


async def runtime_of(connection: HTTPConnection) -> Runtime:
    """The dependency behind `RuntimeDep`: the runtime serving this request (async only so that FastAPI
    calls it on the event loop, not in a worker thread as it would a plain function)."""
    return scope_runtime(connection.scope)


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


def front_of(connection: HTTPConnection) -> ASGIApp:
    """The whole ASGI app serving this request's runtime, outermost wrapper included."""
    front = connection.scope.get(SCOPE_FRONT)
    if front is None:
        raise NoRuntime("this request was not sent through server.create_app's runtime layer")
    return cast(ASGIApp, front)


_state: weakref.WeakKeyDictionary[Runtime, dict[object, object]] = weakref.WeakKeyDictionary()
_state_lock = threading.RLock()


def per_runtime(runtime: Runtime, key: object, make: Callable[[Runtime], T]) -> T:
    """The one `make(runtime)` kept for this runtime under `key`, made on first use and forgotten with
    the runtime. `key` is the maker's own module-level object (a class or function), so no two makers
    collide."""
    with _state_lock:
        kept = _state.setdefault(runtime, {})
        if key not in kept:
            kept[key] = make(runtime)
        return kept[key]  # type: ignore[return-value]
