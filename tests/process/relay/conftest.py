"""The relay tests' fixtures, shared by every tier (tests/support/relay.py)."""

from tests.support.relay import relay_sim  # noqa: F401
