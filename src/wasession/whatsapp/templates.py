"""Approved message templates of a WhatsApp Business Account, as Graph lists them.

`GET /{version}/{waba-id}/message_templates` answers `{"data": [...], "paging": {"next": url}}`; each
template has `name`, `language`, `status`, `category` and `components`, the BODY component's `text`
holding positional (`{{1}}`) or named (`{{first_name}}`) parameters. Only APPROVED ones can be sent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
MAX_PAGES = 20  # 20 pages of 100: far beyond the template count of any account we know of
MAX_BODY = 1024  # Meta's limit for a template body


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    category: str
    body: str  # the BODY component's text, with its placeholders

    @property
    def parameters(self) -> list[str]:
        """Placeholder names in order of first appearance: ["1", "2"] or ["first_name", …]."""
        seen: list[str] = []
        for name in PLACEHOLDER.findall(self.body):
            if name not in seen:
                seen.append(name)
        return seen


def parse_page(data: Any) -> tuple[list[Template], str | None]:
    """The approved templates of one page and the next page's URL; anything malformed is skipped."""
    if not isinstance(data, Mapping):
        return [], None
    found: list[Template] = []
    for item in data.get("data") or ():
        if not isinstance(item, Mapping) or item.get("status") != "APPROVED":
            continue
        name, language = item.get("name"), item.get("language")
        if not isinstance(name, str) or not isinstance(language, str):
            continue
        category = item.get("category") if isinstance(item.get("category"), str) else ""
        found.append(Template(name, language, str(category), _body_text(item.get("components"))))
    paging = data.get("paging")
    nxt = paging.get("next") if isinstance(paging, Mapping) else None
    return found, nxt if isinstance(nxt, str) and nxt else None


def render(body: str, parameters: Sequence[str] | Mapping[str, str]) -> str:
    """The text the customer reads: positional parameters fill {{1}}, {{2}}…; named ones by name. A
    placeholder without a value stays as it is."""

    def value(match: re.Match[str]) -> str:
        key = match.group(1)
        if isinstance(parameters, Mapping):
            return str(parameters.get(key, match.group(0)))
        if key.isdigit() and 1 <= int(key) <= len(parameters):
            return str(parameters[int(key) - 1])
        return match.group(0)

    return PLACEHOLDER.sub(value, body)


def _body_text(components: Any) -> str:
    for component in components or ():
        if isinstance(component, Mapping) and str(component.get("type", "")).upper() == "BODY":
            text = component.get("text")
            return text[:MAX_BODY] if isinstance(text, str) else ""
    return ""
