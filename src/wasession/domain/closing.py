"""The closing template (issue 13): the approved template a timeout closure sends when free-form text
can no longer go out (the window has under 5 minutes left, or has closed)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from wasession.domain.errors import ValidationError
from wasession.domain.wording import from_text, given

TEMPLATE_NAME = re.compile(r"[a-z0-9_]{1,512}")
# Meta's template languages: "en", "en_US", "pt_BR", "zh_Hant", "fil", …
TEMPLATE_LANGUAGE = re.compile(r"[a-z]{2,3}(_[A-Za-z]{2,4})?")
FIELD = "closing_template"


@dataclass(frozen=True)
class TemplateRef:
    name: str
    language: str

    def to_public(self) -> dict[str, str]:
        return {"name": self.name, "language": self.language}


def parse_closing_template(value: object) -> TemplateRef | None:
    value = from_text(value)
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, TemplateRef):
        return value
    if not isinstance(value, Mapping) or set(value) != {"name", "language"}:
        raise ValidationError(
            FIELD,
            f'{FIELD} must be an approved template as {{"name": "…", "language": "en_US"}}, or empty; '
            f"it was {given(value)}",
            "invalid_type",
        )
    name, language = value["name"], value["language"]
    if not isinstance(name, str) or not TEMPLATE_NAME.fullmatch(name):
        raise ValidationError(
            FIELD, f"{FIELD}: name must be lowercase letters, digits and _; it was {given(name)}", "invalid_name"
        )
    if not isinstance(language, str) or not TEMPLATE_LANGUAGE.fullmatch(language):
        raise ValidationError(
            FIELD, f"{FIELD}: language must be a code like en or pt_BR; it was {given(language)}", "invalid_language"
        )
    return TemplateRef(name, language)
