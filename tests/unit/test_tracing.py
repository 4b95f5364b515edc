"""The pure side of tracing: the switch, trace ids, and the previous attempt read from events."""

from __future__ import annotations

import json
import subprocess
import sys

from system.config import Settings
from system.tracing import NO_SPAN, gateway_tracing, parse_events, previous_attempt, trace_id

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def ev(t: float, event: str, worker: str = "", token: int | None = None, detail: str = "") -> dict:
    out: dict = {"t": t, "event": event}
    if worker:
        out["worker"] = worker
    if token is not None:
        out["token"] = token
    if detail:
        out["detail"] = detail
    return out


def test_off_by_default_and_no_sdk_imported() -> None:
    # redis-py 8 itself imports opentelemetry's metrics API when installed; the tracing SDK,
    # the exporter and system.otel must stay out
    code = ("import sys; from system.gateway.app import create_app; from system.worker.node import WorkerNode; "
            "from system.config import Settings; import system.tracing as t; "
            "assert t.gateway_tracing(Settings()) is None; "
            "bad = [m for m in sys.modules if m.startswith(('opentelemetry.sdk.trace', 'opentelemetry.exporter', "
            "'opentelemetry.instrumentation', 'system.otel'))]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PATH": "/usr/bin:/bin"}, cwd=".")
    assert gateway_tracing(Settings()) is None
    with NO_SPAN as span:
        assert span.trace == ("", "")


def test_trace_id_of_traceparent() -> None:
    assert trace_id(TP) == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id(None) is None
    assert trace_id("garbage") is None


def test_first_attempt_has_no_previous() -> None:
    events = [ev(1.0, "submitted"), ev(1.1, "claimed", "w1", 1)]
    assert previous_attempt(events, 1) is None


def test_previous_attempt_lost_to_lease_expiry() -> None:
    events = [ev(1.0, "submitted"), ev(1.1, "claimed", "w1", 1), ev(1.2, "started", "w1", 1),
              ev(3.0, "lease_expired", "w1", 1), ev(3.1, "claimed", "w2", 2)]
    past = previous_attempt(events, 2)
    assert past is not None and past.lost
    assert (past.token, past.worker, past.claimed_t, past.ended_t, past.ending) == (1, "w1", 1.1, 3.0, "lease_expired")
    assert [s.name for s in past.steps] == ["started", "lease_expired"]


def test_previous_attempt_failed_and_retried_is_not_lost() -> None:
    events = [ev(1.1, "claimed", "w1", 1), ev(1.2, "failed", "w1", 1, "boom"),
              ev(1.2, "retry_scheduled", "w1", 1, "50"), ev(1.3, "requeued", detail="retry due"),
              ev(1.4, "claimed", "w1", 2), ev(1.5, "failed", "w1", 2, "boom"), ev(1.6, "claimed", "w2", 3)]
    past = previous_attempt(events, 3)
    assert past is not None and not past.lost
    assert past.token == 2 and past.ending == "failed"


def test_parse_events_in_seconds() -> None:
    raw = [json.dumps({"t": 1500, "event": "claimed", "worker": "w1", "token": 1})]
    assert parse_events(raw) == [{"t": 1.5, "event": "claimed", "worker": "w1", "token": 1}]


def test_report_links_traced_tasks_to_jaeger() -> None:
    from harness.report.tasksview import trace_url
    from harness.runinfo import tracing_meta

    assert tracing_meta({}) is None
    meta = tracing_meta({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://jaeger:4318", "JAEGER_UI_URL": "http://h:16686/"})
    assert meta == {"otlp_endpoint": "http://jaeger:4318", "ui": "http://h:16686"}
    assert trace_url({"traceparent": TP}, meta["ui"]) == "http://h:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_url({"traceparent": TP}, None) is None
    assert trace_url({"traceparent": None}, meta["ui"]) is None


def test_history_keeps_the_traceparent_the_report_links() -> None:
    from harness.history import task_from_dict, task_to_dict

    task = task_from_dict({"id": "t1", "status": "succeeded", "traceparent": TP, "events": []})
    assert task.traceparent == TP and task_to_dict(task)["traceparent"] == TP
