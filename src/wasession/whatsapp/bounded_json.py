"""JSON read with a bound on nesting, for bodies a stranger sends.

Meta's webhook bodies nest about ten levels deep. A body nesting thousands of levels parses (or
fails to) in C, but every later step that walks it recursively (`json.dumps`, a deep copy, a relay
reading its kinds) raises RecursionError: such a body is refused before it is stored anywhere.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Far above Meta's bodies (about ten), far below Python's recursion limit (1,000).
MAX_DEPTH = 32
# Objects and arrays in one body: a batch of a thousand statuses holds about ten thousand. A 3 MB body
# of `[]`s holds 1.5 million, which cost seconds to build in Python for nothing Meta sends.
MAX_CONTAINERS = 50_000

# A JSON string, escapes included (the unrolled form: no backtracking per character).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_OPEN_CLOSE = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


class JsonRefused(ValueError):
    """The bytes are not JSON, or nest deeper than allowed."""


def loads_bounded(raw: bytes, max_depth: int = MAX_DEPTH, max_containers: int = MAX_CONTAINERS) -> Any:
    # Nothing can nest deeper than the brackets that open, strings included: a webhook of Meta's opens
    # about ten, so most bodies need no closer look (two counts in C, the cheapest check there is).
    if raw.count(b"[") + raw.count(b"{") <= min(max_depth, max_containers):
        return _parsed(raw, max_depth)
    # Its brackets outside strings, as `[` and `]`, read in C before anything is built.
    brackets = _STRING.sub(b"", raw).translate(_OPEN_CLOSE, _NOT_BRACKET)
    if len(brackets) > 2 * max_containers:
        raise JsonRefused(f"body holds more than {max_containers} objects and arrays")
    data = _parsed(raw, max_depth)
    # Valid JSON: each pass drops the innermost pairs, one level (a walk of the parsed objects in
    # Python cost more than the parse).
    for _ in range(max_depth):
        if not brackets:
            return data
        brackets = brackets.replace(b"[]", b"")
    if brackets:
        raise JsonRefused(f"body nests deeper than {max_depth} levels")
    return data


def _parsed(raw: bytes, max_depth: int) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise JsonRefused(f"body nests deeper than {max_depth} levels") from None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise JsonRefused(f"body is not valid JSON: {exc}") from None
