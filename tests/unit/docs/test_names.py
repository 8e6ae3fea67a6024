"""Each project module imported whole goes by one name everywhere (docs/decisions/0007-naming.md)."""

from __future__ import annotations

import ast
import collections
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "wasession"


def _modules() -> set[str]:
    found = set()
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        found.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return found


def test_each_module_goes_by_one_name() -> None:
    modules = _modules()
    names: dict[str, dict[str, list[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for folder in ("src", "tests", "bench", "scripts"):
        for p in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(p.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    for a in node.names:
                        if f"{node.module}.{a.name}" in modules:
                            names[f"{node.module}.{a.name}"][a.asname or a.name].append(str(p.relative_to(ROOT)))
                elif isinstance(node, ast.Import):
                    for a in node.names:
                        if a.asname and a.name in modules:
                            names[a.name][a.asname].append(str(p.relative_to(ROOT)))
    several = {module: dict(by) for module, by in names.items() if len(by) > 1}
    assert not several, f"modules imported under more than one name: {several}"
