"""The docs say what the code does: the event contract matches `EventType`, and every citation resolves.

What is checked, and how a citation is found:

- Event types: each heading of `docs/events.md` that contains backticked names documents those event
  types; together they must be exactly the values of `EventType`.
- `path::name` citations in `docs/**/*.md` and `README.md`, for paths under `src/` or `tests/`: the file
  exists and `name` is defined at its module level (a def, a class or an assignment) or is
  `Class.method` (a def or assignment directly in a module-level class). Parametrised tests are cited by
  their function name.
- File paths (a word ending in `.md`, `.py`, `.json` or `.toml`, backticked or not) in `docs/**/*.md`,
  `README.md`, and in the comments and docstrings of every `.py` file under `src/` and `tests/`: the path
  exists relative to the repository root, to `src/wasession/` (how code names its own modules), to the
  folder of the file that cites it, or to a folder of `tests/data/` (tests name a fixture by its file
  name). URLs are not paths. Ordinary string literals are code, not
  citations, and test fixture data (`tests/data/`) is not scanned: it is third-party material.
"""

from __future__ import annotations

import ast
import functools
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from wasession.domain.events import EventType

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "src" / "wasession"
EVENTS_DOC = ROOT / "docs" / "events.md"
FIXTURE_FOLDERS = sorted(p for p in (ROOT / "tests" / "data").rglob("*") if p.is_dir())

_HEADING = re.compile(r"^#{2,6}\s+(.*)$", re.MULTILINE)
_BACKTICKED = re.compile(r"`([^`]+)`")
_CITATION = re.compile(r"\b((?:src|tests)/[\w/.-]+\.py)::([A-Za-z_][\w.]*)")
# A path: segments of word characters, dots and dashes, ending in one of the cited extensions. Not
# preceded by a character that would make it part of a longer token (a URL, a dotted name, a glob).
_PATH = re.compile(r"(?<![\w/.:*~-])((?:[\w-][\w.-]*/)*[\w-][\w.-]*\.(?:md|py|json|toml))(?![\w/-])")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)


def documented_event_types() -> list[str]:
    names: list[str] = []
    for heading in _HEADING.findall(EVENTS_DOC.read_text()):
        names.extend(_BACKTICKED.findall(heading))
    return names


def doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_files() -> list[Path]:
    files = [*sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "tests").rglob("*.py"))]
    return [f for f in files if "data" not in f.relative_to(ROOT).parts[1:2]]


def _docstrings(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                yield doc


def _comments(source: str) -> Iterator[str]:
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            yield token.string


def prose_of(path: Path) -> str:
    """The text of `path` that may cite files: all of a Markdown file, the comments and docstrings of
    a Python file."""
    text = path.read_text()
    if path.suffix != ".py":
        return text
    return "\n".join([*_docstrings(ast.parse(text)), *_comments(text)])


def cited_paths(text: str) -> list[str]:
    return _PATH.findall(_URL.sub(" ", text))


def path_exists(cited: str, citing: Path) -> bool:
    return any((base / cited).exists() for base in (ROOT, PACKAGE, citing.parent, *FIXTURE_FOLDERS))


@functools.cache  # docs/rules.md cites a few modules hundreds of times: each is parsed once
def defined_names(path: Path) -> frozenset[str]:
    """Module-level names of `path`, and `Class.member` for members of its module-level classes."""
    names: set[str] = set()

    def bound(node: ast.stmt) -> list[str]:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return [node.name]
        if isinstance(node, ast.Assign):
            return [t.id for t in node.targets if isinstance(t, ast.Name)]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            return [node.target.id]
        return []

    for node in ast.parse(path.read_text()).body:
        names.update(bound(node))
        if isinstance(node, ast.ClassDef):
            names.update(f"{node.name}.{member}" for child in node.body for member in bound(child))
    return frozenset(names)


def test_every_event_type_is_documented_and_every_documented_type_exists() -> None:
    documented = documented_event_types()
    members = {t.value for t in EventType}
    assert sorted(set(documented) - members) == [], "documented in docs/events.md but not an EventType"
    assert sorted(members - set(documented)) == [], "EventType members without a section in docs/events.md"
    assert len(documented) == len(set(documented)), "an event type has two sections"


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_function_and_test_exists(doc: Path) -> None:
    missing = []
    for path, name in _CITATION.findall(doc.read_text()):
        target = ROOT / path
        if not target.is_file():
            missing.append(f"{path} (no such file)")
        elif name not in defined_names(target):
            missing.append(f"{path}::{name} (not defined there)")
    assert missing == []


@pytest.mark.parametrize("citing", doc_files() + python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_file_exists(citing: Path) -> None:
    missing = sorted({p for p in cited_paths(prose_of(citing)) if not path_exists(p, citing)})
    assert missing == [], f"{citing.relative_to(ROOT)} cites files that are not in the repository"


def test_the_rules_cite_code_and_tests_for_every_rule() -> None:
    text = (ROOT / "docs" / "rules.md").read_text()
    sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    rules = {s.split(" ", 1)[0]: s for s in sections}
    assert sorted(rules, key=lambda r: int(r[1:])) == [f"R{n}" for n in range(1, 25)]
    for rule, body in rules.items():
        cited = _CITATION.findall(body)
        assert any(p.startswith("src/") for p, _ in cited), f"{rule} names no implementing code"
        assert any(p.startswith("tests/") for p, _ in cited), f"{rule} names no test"


# -- the checkers themselves, on made-up input, so a checker that finds nothing cannot pass unnoticed --


def test_the_path_finder_sees_backticked_and_bare_paths_but_not_urls_or_dotted_names() -> None:
    text = (
        "See `docs/rules.md` and pyproject.toml, (tests/conftest.py); not https://x.org/a.md, "
        "not wasession.store.events, not *.json, not ~/notes.md."
    )
    assert cited_paths(text) == ["docs/rules.md", "pyproject.toml", "tests/conftest.py"]


def test_a_missing_file_or_name_is_reported(tmp_path: Path) -> None:
    assert not path_exists("no-such-spec.md", ROOT / "README.md")
    assert path_exists("store/events.py", PACKAGE / "api" / "app.py")  # relative to src/wasession/
    # Citers named by where they would be, so the check survives the tests moving between folders.
    assert path_exists("conftest.py", ROOT / "tests" / "test_citer.py")  # beside the citer
    assert path_exists("system.json", ROOT / "tests" / "any" / "test_citer.py")  # a fixture
    assert not path_exists("schema.py", ROOT / "tests" / "any" / "test_citer.py")
    module = tmp_path / "m.py"
    module.write_text("X = 1\nclass C:\n    y: int = 0\n    def f(self) -> None: ...\ndef g() -> None:\n    z = 1\n")
    assert defined_names(module) == {"X", "C", "C.y", "C.f", "g"}


def test_comments_and_docstrings_are_scanned_but_string_literals_are_not(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('"""Cites a.md."""\nX = "b.md"  # and c.md\ndef f() -> None:\n    """And d.md."""\n')
    assert sorted(cited_paths(prose_of(module))) == ["a.md", "c.md", "d.md"]
