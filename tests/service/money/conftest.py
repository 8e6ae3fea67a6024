"""The money tests' fixtures, shared by every tier (tests/support/money.py)."""

from tests.support.money import money  # noqa: F401
