"""The testing toolkit: the Simulator (the real service on a manual clock against the built-in fake Cloud
API, from `wasession.simulation`), the fake itself and the webhook body builders (from
`wasession.sandbox`), re-exported for tests; and `harness`, the dashboard on a real port for browser tests."""

from wasession.sandbox.bodies import customer_webhook, new_wamid, status_body, text_message_body
from wasession.sandbox.fake_cloud import FakeCloudApi, FakeNumber
from wasession.simulation import EventView, MessageView, OutboxMessage, SessionView, Simulator

__all__ = [
    "EventView",
    "FakeCloudApi",
    "FakeNumber",
    "MessageView",
    "OutboxMessage",
    "SessionView",
    "Simulator",
    "customer_webhook",
    "new_wamid",
    "status_body",
    "text_message_body",
]
