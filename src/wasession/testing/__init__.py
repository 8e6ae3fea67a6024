"""Testing toolkit: run the real service on a manual clock against a fake Cloud API."""

from wasession.testing.simulator import EventView, MessageView, OutboxMessage, SessionView, Simulator

__all__ = ["EventView", "MessageView", "OutboxMessage", "SessionView", "Simulator"]
