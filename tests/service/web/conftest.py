"""The web tests' fixtures, shared by every tier (tests/support/web.py)."""

from tests.support.web import browser, sandbox, sim  # noqa: F401
