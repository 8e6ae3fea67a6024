"""`evolve`: `dataclasses.replace` for the frozen records the apply changes in its hot loop.

`replace` calls the class's `__init__` with every field again and cost about 9 µs for a session row;
every status of a reminder changes its session and its pricing row, so that was a twentieth of the
apply's CPU (docs/benchmarks.md, B7). A plain frozen dataclass has nothing in `__init__` but the
assignments, so a copy of the instance's attributes with the changes on top is the same record, at a
seventh of the cost. Classes that do more (a `__post_init__`, `__slots__`, a cached property or any
field not set by `__init__`) go through `replace`."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, TypeVar

T = TypeVar("T")


def evolve(record: T, /, **changes: Any) -> T:
    """A copy of the frozen dataclass instance `record` with `changes`; TypeError names an unknown field."""
    cls = type(record)
    names = _PLAIN[cls] if cls in _PLAIN else _PLAIN.setdefault(cls, _plain_fields(cls))
    if names is None:
        return dataclasses.replace(record, **changes)  # type: ignore[type-var]
    unknown = changes.keys() - names
    if unknown:
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}")
    copy = object.__new__(cls)
    attributes = copy.__dict__
    attributes.update(record.__dict__)
    attributes.update(changes)
    return copy


_PLAIN: dict[type, frozenset[str] | None] = {}


def _plain_fields(cls: type) -> frozenset[str] | None:
    """The field names of `cls` when its instances are only their fields' values in `__dict__`; else None."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__slots__") or hasattr(cls, "__post_init__"):
        return None
    fields = dataclasses.fields(cls)
    if any(not f.init for f in fields):
        return None
    if any(isinstance(v, functools.cached_property) for c in cls.__mro__ for v in vars(c).values()):
        return None
    return frozenset(f.name for f in fields)
