"""Counters counted in one process and exposed by another: the apply process's, at serve's /metrics.

`serve` applies webhooks and runs its due loop in a child process (runtime/apply_process.py), but Prometheus scrapes
`serve` alone. After each batch the child sends what its counters gained since the last report,
and `serve` adds it to its own, so /metrics counts every applied body, priced status and failed
send wherever it was applied. Histogram observations travel as their values (the apply lag; the lag
and delay of the closures the child's due loop made).
"""

from __future__ import annotations

import functools

from prometheus_client import Counter

from wasession.observability import metrics, usage_metrics

# (counter name, labels as sorted (name, value) pairs) -> value
Key = tuple[str, tuple[tuple[str, str], ...]]
Delta = tuple[str, dict[str, str], float]


@functools.cache
def _counters() -> dict[str, Counter]:
    found: dict[str, Counter] = {}
    for module in (metrics, usage_metrics):
        for value in vars(module).values():
            if isinstance(value, Counter):
                found[next(iter(value.describe())).name] = value
    return found


class CounterDeltas:
    """What this process's counters gained since the previous `take`."""

    def __init__(self) -> None:
        self._counters = _counters()
        self._last = self._read()

    def _read(self) -> dict[Key, float]:
        values: dict[Key, float] = {}
        for name, counter in self._counters.items():
            for family in counter.collect():
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        values[(name, tuple(sorted(sample.labels.items())))] = sample.value
        return values

    def take(self) -> list[Delta]:
        now = self._read()
        deltas = [
            (name, dict(labels), value - self._last.get((name, labels), 0.0))
            for (name, labels), value in now.items()
            if value != self._last.get((name, labels), 0.0)
        ]
        self._last = now
        return deltas


def add(deltas: list[Delta]) -> None:
    """Add another process's counter gains to this process's counters (unknown names are ignored:
    the two processes run the same code, so that is a bug to see in tests, not to crash on)."""
    for name, labels, delta in deltas:
        counter = _counters().get(name)
        if counter is None or delta <= 0:
            continue
        (counter.labels(**labels) if labels else counter).inc(delta)


def observe_apply_lags(lags: list[float]) -> None:
    """The apply lags of bodies another process applied (its WEBHOOKS_APPLIED count comes as a delta)."""
    for lag in lags:
        metrics.WEBHOOK_APPLY_LAG.observe(max(0.0, lag))


def observe_closures(closures: list[tuple[float, float]]) -> None:
    """The (lag, delay) of closures another process's due loop made (their count comes as a delta)."""
    for lag, delay in closures:
        metrics.observe_closure(lag, delay)
