"""The security tests' fixtures, shared by every tier (tests/support/security.py)."""

from tests.support.security import default_policy, local_allowed, start_server  # noqa: F401
