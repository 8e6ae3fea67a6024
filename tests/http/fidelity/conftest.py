"""The fidelity tests' fixtures, shared by every tier (tests/support/fidelity.py)."""

from tests.support.fidelity import quiet_sim, sim, sim_database_url  # noqa: F401
