"""Reminder text with merge fields: `{name}`, `{name|fallback}`, `{{` and `}}`.

Deliberately not `str.format`: nothing between braces is evaluated, so a template typed by an
administrator can never reach attributes, indexes or format specs of the values it is given.
Whitespace around a field name is tolerated (`{ contact_firstname }`); the fallback after `|` is
taken verbatim up to the closing brace, spaces included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from wasession.domain.errors import ValidationError

MERGE_FIELDS: tuple[str, ...] = (
    "contact_firstname",
    "contact_lastname",
    "contact_email",
    "contact_phone",
    "company_name",
)
MAX_TEXT_LENGTH = 4096  # WhatsApp's limit for a text message body


@dataclass(frozen=True)
class _Field:
    name: str
    fallback: str | None


_Part = str | _Field


def _unknown(field_name: str, token: str) -> ValidationError:
    allowed = ", ".join("{" + name + "}" for name in MERGE_FIELDS)
    return ValidationError(
        field_name,
        f"{field_name}: unknown merge field '{{{token}}}'; allowed merge fields are {allowed} "
        "(write {{ and }} for literal braces)",
        code="unknown_merge_field",
    )


def _bad_brace(field_name: str, message: str, index: int) -> ValidationError:
    return ValidationError(
        field_name,
        f"{field_name}: {message} at character {index + 1}; write {{{{ and }}}} for literal braces",
        code="invalid_template",
    )


def _parse(source: str, field_name: str) -> tuple[_Part, ...]:
    if len(source) > MAX_TEXT_LENGTH:
        raise ValidationError(
            field_name,
            f"{field_name} must be at most {MAX_TEXT_LENGTH} characters; got {len(source)}",
            code="too_long",
        )
    parts: list[_Part] = []
    literal: list[str] = []
    i = 0
    while i < len(source):
        char = source[i]
        if char in "{}" and source[i + 1 : i + 2] == char:
            literal.append(char)
            i += 2
            continue
        if char == "}":
            raise _bad_brace(field_name, "unmatched '}'", i)
        if char != "{":
            literal.append(char)
            i += 1
            continue
        end = source.find("}", i + 1)
        nested = source.find("{", i + 1)
        if end == -1 or -1 < nested < end:
            raise _bad_brace(field_name, "unclosed '{'", i)
        token = source[i + 1 : end]
        name, bar, fallback = token.partition("|")
        if name.strip() not in MERGE_FIELDS:
            raise _unknown(field_name, token)
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(_Field(name.strip(), fallback if bar else None))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


@dataclass(frozen=True)
class Template:
    source: str
    _parts: tuple[_Part, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_parts", _parse(self.source, "reminder_template"))

    def fields(self) -> frozenset[str]:
        return frozenset(part.name for part in self._parts if isinstance(part, _Field))

    def render(self, values: Mapping[str, str | None]) -> str:
        """The text for one contact; a blank or missing value takes the fallback, else nothing."""
        out: list[str] = []
        for part in self._parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = values.get(part.name)
            # str() so a stray non-string value from a caller can never make a reminder fail.
            text = "" if value is None else str(value)
            if not text.strip():
                text = part.fallback or ""
            out.append(text)
        return "".join(out)


def parse_template(source: str, *, field: str = "reminder_template") -> Template:
    _parse(source, field)  # so errors name the caller's field, not the default one
    return Template(source)


@lru_cache(maxsize=256)
def _compiled(source: str) -> Template:
    # A channel's few templates render once a reminder, thousands a second when many fall due together:
    # each is parsed once, not twice a reminder. An invalid one raises, and errors are not cached.
    return Template(source)


def render_template(source: str, values: Mapping[str, str | None]) -> str:
    return _compiled(source).render(values)


def sample_values(company_name: str = "") -> dict[str, str]:
    """Values for the settings page's live preview."""
    return {
        "contact_firstname": "Ana",
        "contact_lastname": "Silva",
        "contact_email": "ana@example.com",
        "contact_phone": "+15550001111",
        "company_name": company_name,
    }
