"""JSON read with a bound on nesting, for bodies a stranger sends.

Meta's webhook bodies nest about ten levels deep. A body nesting thousands of levels parses (or
fails to) in C, but every later step that walks it recursively (`json.dumps`, a deep copy, a relay
reading its kinds) raises RecursionError: such a body is refused before it is stored anywhere.
"""

from __future__ import annotations

import json
from typing import Any

# Far above Meta's bodies (about ten), far below Python's recursion limit (1,000).
MAX_DEPTH = 32


class JsonRefused(ValueError):
    """The bytes are not JSON, or nest deeper than allowed."""


def loads_bounded(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    try:
        data = json.loads(raw)
    except RecursionError:
        raise JsonRefused(f"body nests deeper than {max_depth} levels") from None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise JsonRefused(f"body is not valid JSON: {exc}") from None
    # Without recursion: only containers go on the stack, each with its depth.
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            raise JsonRefused(f"body nests deeper than {max_depth} levels")
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return data
