"""Testing toolkit: run the real service on a manual clock against a fake Cloud API."""

from wasession.testing.simulator import OutboxMessage, SessionView, Simulator

__all__ = ["OutboxMessage", "SessionView", "Simulator"]
