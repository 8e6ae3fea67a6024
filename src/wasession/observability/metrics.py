"""Prometheus metrics, defined once per process; engine and services call the small helpers below.

Each process exposes its own counters (serve at /metrics, a worker on WASESSION_METRICS_PORT);
Prometheus sums them. The gauges are database-wide counts, refreshed when /metrics is scraped.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

# Closure lag spans the engine's own delay (exact mode: well under a second) and interval checks
# (up to a day between ticks), so the buckets run from 10 ms to a day.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15)

WEBHOOKS_RECEIVED = Counter("wasession_webhooks_received", "Webhook POSTs received")
WEBHOOKS_REJECTED = Counter("wasession_webhooks_rejected", "Webhook POSTs refused, by reason", ["reason"])
# Issue 12: a 2xx means the body is logged; applying it follows (the apply queue).
WEBHOOK_ACK_LATENCY = Histogram(
    "wasession_webhook_ack_seconds",
    "From a webhook POST's arrival to its answer (the body committed to the webhook log)",
    buckets=(0.001, 0.0025, *LATENCY_BUCKETS),
)
WEBHOOK_APPLY_LAG = Histogram(
    "wasession_webhook_apply_lag_seconds",
    "From a webhook body's logged arrival (received_at) to the commit that applied it",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
WEBHOOKS_UNROUTED = Counter(
    "wasession_webhooks_unrouted",
    "Webhook bodies signed by an app secret we hold for a phone number no channel has (answered 200, kept in the log)",
)
WEBHOOKS_APPLIED = Counter("wasession_webhooks_applied", "Logged webhook bodies applied")
APPLY_BACKLOG = Gauge("wasession_webhook_apply_backlog", "Logged webhook bodies waiting to be applied")
SESSIONS_ACTIVE = Gauge("wasession_sessions_active", "Active sessions")
SESSIONS_ELIGIBLE = Gauge("wasession_sessions_eligible", "Active sessions already eligible for closure")
OUTBOX_DEPTH = Gauge("wasession_outbox_depth", "Outbound messages waiting to be sent")
REMINDERS = Counter(
    "wasession_reminders", "Reminders, by outcome (queued, accepted, skipped, failed, unknown)", ["outcome"]
)
SENDS = Counter("wasession_sends", "Outbound messages by kind and outcome", ["kind", "outcome"])
CLOSURES = Counter("wasession_closures", "Sessions closed by the engine, by reason", ["reason"])
CLOSURE_LAG = Histogram(
    "wasession_closure_lag_seconds", "From eligibility (T + timeout) to closure", buckets=LAG_BUCKETS
)
CLOSURE_DELAY = Histogram(
    "wasession_closure_delay_seconds",
    "From the time the closure was due (closes_at: eligibility in exact mode, the next tick otherwise) to closure",
    buckets=LAG_BUCKETS,
)
SEND_LATENCY = Histogram(
    "wasession_send_latency_seconds",
    "Cloud API send request, from the moment it leaves until its whole answer is read",
    buckets=LATENCY_BUCKETS,
)

WEBHOOK_REASONS = {
    400: "invalid_body",
    401: "signature_missing",
    403: "signature_invalid",
    413: "payload_too_large",
    422: "invalid_numbers",
}


def webhook_answered(status: int) -> None:
    WEBHOOKS_RECEIVED.inc()
    if status >= 300:
        WEBHOOKS_REJECTED.labels(
            WEBHOOK_REASONS.get(status, "server_error" if status >= 500 else f"http_{status}")
        ).inc()


# Told the lags of every batch applied here: the apply process passes them on to serve's /metrics.
apply_lag_listeners: list[Callable[[list[float]], None]] = []


def webhooks_applied(lags: list[float]) -> None:
    """Bodies applied, with their apply lag in seconds each."""
    WEBHOOKS_APPLIED.inc(len(lags))
    for lag in lags:
        WEBHOOK_APPLY_LAG.observe(max(0.0, lag))
    for listener in apply_lag_listeners:
        listener(lags)


# Labelled children looked up once: the engine counts every closure and send, thousands a second.
_closures = functools.cache(CLOSURES.labels)
_reminders = functools.cache(REMINDERS.labels)
_sends = functools.cache(SENDS.labels)


# Told the (lag, delay) of every closure the engine made here: the apply process, where `serve`'s due loop
# runs, passes them on to serve's /metrics.
closure_listeners: list[Callable[[float, float], None]] = []


def session_closed(reason: str, eligible_at: datetime, closes_at: datetime, now: datetime) -> None:
    _closures(reason).inc()
    lag, delay = (now - eligible_at).total_seconds(), (now - closes_at).total_seconds()
    observe_closure(lag, delay)
    for listener in closure_listeners:
        listener(lag, delay)


def observe_closure(lag: float, delay: float) -> None:
    """A closure's lag (from eligibility) and delay (from its due time), in seconds."""
    CLOSURE_LAG.observe(max(0.0, lag))
    CLOSURE_DELAY.observe(max(0.0, delay))


def reminder(outcome: str) -> None:
    _reminders(outcome).inc()


def send_outcome(kind: str, outcome: str) -> None:
    _sends(kind, outcome).inc()
    if kind == "reminder":
        _reminders(outcome).inc()


def send_answered(seconds: float) -> None:
    SEND_LATENCY.observe(seconds)


def set_gauges(*, active: int, eligible: int, outbox: int) -> None:
    SESSIONS_ACTIVE.set(active)
    SESSIONS_ELIGIBLE.set(eligible)
    OUTBOX_DEPTH.set(outbox)


# The webhook relay (issue 16).
RELAY_ATTEMPTS = Counter(
    "wasession_relay_attempts",
    "Relay deliveries to forward targets, by outcome (delivered, failed, given_up, skipped: refused or unreadable)",
    ["outcome"],
)
RELAY_LAG = Gauge("wasession_relay_lag", "Webhook log ids stored after a forward target's cursor", ["target"])
_relay_attempts = functools.cache(RELAY_ATTEMPTS.labels)


def relay_attempt(outcome: str) -> None:
    _relay_attempts(outcome).inc()


def set_relay_lag(lags: list[tuple[int, int]]) -> None:
    RELAY_LAG.clear()  # deleted targets disappear
    for target_id, behind in lags:
        RELAY_LAG.labels(str(target_id)).set(behind)


# -- Chatwoot connections (issue 22) ------------------------------------------------------------------

CHATWOOT_CALLS = Counter(
    "wasession_chatwoot_calls", "Calls to connected Chatwoots by kind and outcome", ["kind", "outcome"]
)


def chatwoot_call(kind: str, outcome: str) -> None:
    CHATWOOT_CALLS.labels(kind=kind, outcome=outcome).inc()
