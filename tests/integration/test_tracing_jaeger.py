"""End to end: gateway and workers export OTLP to a real Jaeger, and one trace shows a task's path.

For a task retried twice (3 attempts) and one whose worker was SIGKILLed mid-task (2 attempts,
the first rebuilt from the task's events by the second), Jaeger's HTTP API returns ONE trace
holding the gateway's submit span and every attempt. Real jaeger, redis-server, gateway and
workers as processes. Skips without the jaeger binary, except under CI=true where it fails.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from system.broker import Broker
from system.tracing import trace_id
from tests.support.jaeger import JaegerServer, jaeger_binary
from tests.support.outcomes import wait_final
from tests.support.servers import Process, free_port, wait_for_gateway, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def jaeger() -> Iterator[JaegerServer]:
    binary = jaeger_binary()
    if binary is None:
        message = ("the jaeger binary is missing: scripts/install.sh builds it with Go "
                   "(or set JAEGER_BIN to a Jaeger v2 binary)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = JaegerServer(binary)
    yield server
    server.stop()


def spans_of(trace: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(service, operation, tags) of every span of a Jaeger v1 API trace."""
    out = []
    for span in trace["spans"]:
        service = trace["processes"][span["processID"]]["serviceName"]
        tags = {t["key"]: t["value"] for t in span.get("tags", [])}
        out.append((service, span["operationName"], tags))
    return out


def complete(jaeger: JaegerServer, traceparent: str, task_id: str, attempts: int) -> list | None:
    trace = jaeger.trace(trace_id(traceparent) or "")
    if trace is None:
        return None
    spans = spans_of(trace)
    gateway = [s for s in spans if s[0] == "taskq-gateway" and s[1] == "POST /tasks"]
    tried = [s for s in spans if s[0] == "taskq-worker" and s[2].get("taskq.task_id") == task_id]
    return spans if gateway and len(tried) >= attempts else None


def test_one_trace_per_task_with_every_attempt(spawn: Callable[..., Process], broker: Broker,
                                               jaeger: JaegerServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "200")  # export within 0.2 s, not 5 s
    otel = {"otel_exporter_otlp_endpoint": jaeger.otlp_endpoint}
    port = free_port()
    spawn("system.gateway", name="gateway", gateway_port=port, gateway_host="127.0.0.1", gateway_workers=1, **otel)
    url = wait_for_gateway(f"http://127.0.0.1:{port}")
    victim = spawn("system.worker", name="victim", worker_id="victim", worker_concurrency=2, **otel)

    def submit(task: dict) -> str:
        reply = requests.post(f"{url}/tasks", json=task, timeout=10)
        assert reply.status_code == 202, reply.text
        return reply.json()["id"]

    killed = submit({"type": "sleep", "data": {"ms": 4000}})
    wait_until(lambda: broker.get(killed)["status"] == "running", timeout=20, message="the victim to run it")
    victim.signal(signal.SIGKILL)
    spawn("system.worker", name="rescuer", worker_id="rescuer", worker_concurrency=2, **otel)
    retried = submit({"type": "fail", "data": {"times": 2}, "max_retries": 3})

    records = {r["id"]: r for r in wait_final(broker, [killed, retried], timeout=60)}
    assert records[retried]["status"] == "succeeded" and records[retried]["attempts"] == 3
    assert records[killed]["status"] == "succeeded" and records[killed]["attempts"] == 2
    shown = requests.get(f"{url}/tasks/{killed}", timeout=10).json()
    assert trace_id(shown["traceparent"]), f"GET /tasks/<id> shows no traceparent: {shown}"

    for task_id, attempts in ((retried, 3), (killed, 2)):
        traceparent = records[task_id]["traceparent"]
        spans = wait_until(lambda: complete(jaeger, traceparent, task_id, attempts), timeout=30,  # noqa: B023
                           message=f"one Jaeger trace with the submit and {attempts} attempts of {task_id}")
        tried = [s for s in spans if s[2].get("taskq.task_id") == task_id]
        assert len(tried) == attempts, tried
    lost = [s for s in spans_of(jaeger.trace(trace_id(records[killed]["traceparent"]) or "") or {"spans": []})
            if s[2].get("taskq.reconstructed")]
    assert [s[2].get("taskq.worker.id") for s in lost] == ["victim"]
    if os.environ.get("TRACE_SCREENSHOT"):  # docs/tracing-screenshot.png: TRACE_SCREENSHOT=<path>
        from pathlib import Path

        from tests.support.trace_page import save_screenshot

        shots = [(f"{what}: task {task_id}", jaeger.trace(trace_id(records[task_id]["traceparent"]) or ""))
                 for what, task_id in (("fail times 2 (retried twice)", retried),
                                       ("sleep 4 s, worker SIGKILLed mid-task", killed))]
        save_screenshot([(title, trace) for title, trace in shots if trace], Path(os.environ["TRACE_SCREENSHOT"]))
