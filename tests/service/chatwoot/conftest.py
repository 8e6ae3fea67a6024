"""The chatwoot tests' fixtures, shared by every tier (tests/support/chatwoot.py)."""

from tests.support.chatwoot import world_factory  # noqa: F401
