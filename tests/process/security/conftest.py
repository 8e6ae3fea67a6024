"""The security tests' fixtures, shared by every tier (tests/support/security.py)."""

from tests.support.security import default_policy, local_allowed, module_server, start_server  # noqa: F401
