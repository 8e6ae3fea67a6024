"""The simulator tests' fixtures, shared by every tier (tests/support/simulator.py)."""

from tests.support.simulator import any_sim, sim, sim_database_url  # noqa: F401
