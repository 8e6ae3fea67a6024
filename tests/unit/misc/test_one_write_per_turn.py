"""serve's transport wrapper (wasession.api.serving.OneWritePerTurn): the writes of one event-loop turn
leave as one, in order, and a close never loses or reorders what was written before it."""

from __future__ import annotations

import asyncio
from typing import Any

from wasession.api.serving import OneWritePerTurn


class Recording:
    """The few transport calls the wrapper makes, recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str) -> str:
        return f"info {name}"


def wrapped() -> tuple[OneWritePerTurn, Recording]:
    inner = Recording()
    return OneWritePerTurn(inner, asyncio.get_running_loop()), inner  # type: ignore[arg-type]


async def next_turn() -> None:
    await asyncio.sleep(0)


def test_the_writes_of_one_turn_leave_as_one_write_at_the_next() -> None:
    async def run() -> None:
        transport, inner = wrapped()
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(memoryview(b"body"))
        assert inner.calls == []
        assert transport.get_write_buffer_size() == 7 + 23
        await next_turn()
        assert inner.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody")]
        transport.writelines([b"a", b"b"])
        await next_turn()
        assert inner.calls[1:] == [("write", b"ab")]
        await next_turn()
        assert len(inner.calls) == 2  # nothing written, nothing flushed

    asyncio.run(run())


def test_a_close_sends_what_was_written_first() -> None:
    async def run() -> None:
        transport, inner = wrapped()
        transport.write(b"last answer")
        transport.close()
        assert inner.calls == [("write", b"last answer"), ("close", None)]
        await next_turn()
        assert len(inner.calls) == 2  # the scheduled flush finds nothing left

    asyncio.run(run())


def test_writes_to_a_transport_closed_underneath_are_dropped_and_the_rest_is_its_own() -> None:
    async def run() -> None:
        transport, inner = wrapped()
        transport.write(b"too late")
        inner.closing = True  # the peer went away before the turn ended
        await next_turn()
        assert inner.calls == []
        assert transport.is_closing()
        assert transport.get_extra_info("peername") == "info peername"

    asyncio.run(run())
