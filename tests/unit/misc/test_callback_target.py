"""The callback data our sends carry is written and read by one type (`store.messages.CallbackTarget`)."""

from __future__ import annotations

import pytest

from wasession.domain.states import MessageKind
from wasession.store.messages import CallbackTarget


@pytest.mark.parametrize(
    ("target", "text"),
    [
        (CallbackTarget(MessageKind.REMINDER, 12), "wasession:reminder:12"),
        (CallbackTarget(MessageKind.CLOSING, 7), "wasession:closing:7"),
        (CallbackTarget(MessageKind.AGENT, 3, 41), "wasession:agent:3:41"),
        (CallbackTarget(MessageKind.TEMPLATE, 3, 42), "wasession:template:3:42"),
    ],
)
def test_what_a_send_carries_reads_back_as_the_same_target(target: CallbackTarget, text: str) -> None:
    assert target.text() == text
    assert CallbackTarget.parse(text) == target


@pytest.mark.parametrize(
    "text", [None, "", "wasession:reminder", "other:reminder:1", "wasession:agent:x:1", "a:b:c:d:e"]
)
def test_callback_data_we_did_not_write_names_nothing(text: str | None) -> None:
    assert CallbackTarget.parse(text) is None
