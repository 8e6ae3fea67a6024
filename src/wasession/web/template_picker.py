"""The session page's template picker: the channel's approved templates from Meta, a field per
parameter, and a draft that survives a refused send."""

from __future__ import annotations

from dataclasses import dataclass, field

from wasession.web.auth import Form

MAX_FIELDS = 100  # as many parameters as a template may have (services.agents.MAX_PARAMETERS)


@dataclass(frozen=True)
class TemplateDraft:
    name: str = ""
    language: str = ""
    parameters: list[str] = field(default_factory=list)


def draft_from(form: Form) -> TemplateDraft:
    """What the agent submitted: a picked template ("name|language") with one field per parameter
    (param_1, param_2…), or a name typed by hand with parameters one per line."""
    name, language = form.get("name").strip(), form.get("language").strip()
    picked = form.get("template")
    if "|" in picked:
        name, _, language = picked.partition("|")
    parameters = []
    for i in range(1, MAX_FIELDS + 1):
        key = f"param_{i}"
        if key not in form.values:
            break
        parameters.append(form.get(key).strip())
    if not parameters:
        parameters = [line.strip() for line in form.get("parameters").splitlines() if line.strip()]
    return TemplateDraft(name, language, parameters)
