"""The api tests' fixtures, shared by every tier (tests/support/api.py)."""

from tests.support.api import world  # noqa: F401
