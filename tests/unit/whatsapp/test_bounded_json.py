"""`loads_bounded`: the nesting and container bounds are exact whichever path a body takes (two counts
for the usual body, the bracket scan outside strings for the rest)."""

from __future__ import annotations

import json

import pytest

from wasession.whatsapp.bounded_json import JsonRefused, loads_bounded


def nested(depth: int, text: str = "x") -> bytes:
    return ("[" * (depth - 1) + json.dumps({"t": text}) + "]" * (depth - 1)).encode()


@pytest.mark.parametrize("depth", [1, 5, 31, 32])
def test_nesting_up_to_the_bound_is_read(depth: int) -> None:
    assert json.dumps(loads_bounded(nested(depth))).count("[") == depth - 1


def test_nesting_past_the_bound_is_refused_on_both_paths() -> None:
    with pytest.raises(JsonRefused, match="deeper than 32"):
        loads_bounded(nested(33))
    with pytest.raises(JsonRefused, match="deeper than 4"):
        loads_bounded(nested(5), max_depth=4)


def test_brackets_inside_strings_neither_refuse_nor_hide_nesting() -> None:
    many = "[{" * 100  # a customer's text full of brackets: the counts alone would be over the bound
    assert loads_bounded(nested(3, many)) == [[{"t": many}]]
    with pytest.raises(JsonRefused, match="deeper than 32"):
        loads_bounded(nested(40, "]" * 20))  # closing brackets in a string do not shorten the nesting


def test_too_many_containers_and_invalid_json_are_refused() -> None:
    with pytest.raises(JsonRefused, match="more than 3 objects"):
        loads_bounded(b"[[],[],[],[]]", max_containers=3)
    assert loads_bounded(b"[[],[]]", max_containers=3) == [[], []]
    for raw in (b"{", b'{"a": }', b"\xff"):
        with pytest.raises(JsonRefused, match="not valid JSON"):
            loads_bounded(raw)
