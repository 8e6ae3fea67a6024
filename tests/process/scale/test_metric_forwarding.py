"""The apply process's counters reach serve's /metrics (observability/forwarding.py): what a process
counted since the last report, added to another's counters."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

from wasession.observability import forwarding, metrics, usage_metrics


def value(counter: object, **labels: str) -> float:
    for family in counter.collect():  # type: ignore[attr-defined]
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_what_a_counter_gained_since_the_last_take_is_added_elsewhere() -> None:
    deltas = forwarding.CounterDeltas()
    assert deltas.take() == []  # nothing counted since it started
    metrics.send_outcome("reminder", "failed")
    metrics.send_outcome("reminder", "failed")
    usage_metrics.priced("service", "free_customer_service", automated=False)
    metrics.WEBHOOKS_APPLIED.inc(3)
    gained = deltas.take()
    assert ("wasession_sends", {"kind": "reminder", "outcome": "failed"}, 2.0) in gained
    assert ("wasession_webhooks_applied", {}, 3.0) in gained
    assert any(name == "wasession_outbound_priced" and delta == 1.0 for name, _, delta in gained)
    assert deltas.take() == []  # taken once

    sends = value(metrics.SENDS, kind="reminder", outcome="failed")
    applied = value(metrics.WEBHOOKS_APPLIED)
    forwarding.add(gained)  # as serve adds its apply process's report
    assert value(metrics.SENDS, kind="reminder", outcome="failed") == sends + 2
    assert value(metrics.WEBHOOKS_APPLIED) == applied + 3


def test_apply_lags_told_by_another_process_are_observed_without_counting_twice() -> None:
    count = metrics.WEBHOOK_APPLY_LAG.collect()[0]
    before = next(s.value for s in count.samples if s.name.endswith("_count"))
    applied = value(metrics.WEBHOOKS_APPLIED)
    forwarding.observe_apply_lags([0.01, 0.2, -0.001])
    after = next(s.value for s in metrics.WEBHOOK_APPLY_LAG.collect()[0].samples if s.name.endswith("_count"))
    assert after == before + 3
    assert value(metrics.WEBHOOKS_APPLIED) == applied  # the count comes with the counters' deltas


def test_the_apply_process_reports_a_backlog_counted_after_its_last_batch() -> None:
    from wasession.ingest import IngestResult
    from wasession.runtime.apply_child import _Reporter

    queue = SimpleNamespace(depth=5)
    ours, theirs = socket.socketpair()
    theirs.settimeout(5)  # a report not sent fails the read instead of hanging
    with ours, theirs, theirs.makefile("rb") as lines:
        reporter = _Reporter(ours, queue)  # type: ignore[arg-type]
        reporter.report([IngestResult(messages=1)])
        assert json.loads(lines.readline())["depth"] == 5
        reporter.flush()  # nothing new since: no line
        queue.depth = 0  # the step counted the backlog again after the batch was reported
        reporter.flush()
        told = json.loads(lines.readline())
        assert told["depth"] == 0 and told["messages"] == 0


def test_a_due_batch_the_child_committed_reaches_serve_with_its_closures() -> None:
    """The child's due loop (runtime/apply_child.py) tells serve after each batch that acted: serve
    observes the closures' lag and delay and wakes its sender (`on_due_acted`)."""
    from wasession.runtime.apply_child import _Reporter
    from wasession.runtime.apply_process import ApplyProcess

    ours, theirs = socket.socketpair()
    theirs.settimeout(5)
    with ours, theirs, theirs.makefile("rb") as lines:
        reporter = _Reporter(ours, SimpleNamespace(depth=0))  # type: ignore[arg-type]
        reporter.closure(0.004, -0.5)
        reporter.due_acted()
        told = json.loads(lines.readline())
    assert told["due_acted"] is True and told["closures"] == [[0.004, -0.5]]

    woken: list[str] = []
    serve_side = ApplyProcess.__new__(ApplyProcess)  # its `_told` only: no child is started
    serve_side.ingestor = SimpleNamespace(  # type: ignore[assignment]
        queue=SimpleNamespace(depth=0, notify_applied=lambda: None), act_on_applied=lambda results: None
    )
    serve_side.on_due_acted = lambda: woken.append("sender")
    count = metrics.CLOSURE_DELAY.collect()[0]
    before = next(s.value for s in count.samples if s.name.endswith("_count"))
    serve_side._told(told)
    after = next(s.value for s in metrics.CLOSURE_DELAY.collect()[0].samples if s.name.endswith("_count"))
    assert after == before + 1 and woken == ["sender"]
    told["due_acted"] = False  # an applied batch's report wakes nothing of the due loop's
    serve_side._told(told)
    assert woken == ["sender"]
