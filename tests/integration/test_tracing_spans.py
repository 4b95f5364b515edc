"""Span shapes against real Redis, with the SDK's in-memory exporter (no Jaeger needed).

The worker's attempt spans are children of the context submit.lua stored, and carry the
outcome as events; the gateway's span is what the task stores.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from system import otel
from system.broker import Broker, Outcome
from system.config import Settings
from system.gateway.app import create_app
from system.tracing import trace_id

TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Providers system.otel builds send their spans here, synchronously, instead of OTLP; the
    Redis instrumentation is removed afterwards (it patches redis-py for the whole process)."""
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    memory = InMemorySpanExporter()
    providers: list[TracerProvider] = []

    def provider(settings: Settings, service: str, instance: str) -> TracerProvider:
        made = TracerProvider(resource=Resource.create({"service.name": service}), sampler=otel.NoRootClientSpans())
        made.add_span_processor(SimpleSpanProcessor(memory))
        providers.append(made)
        return made

    monkeypatch.setattr(otel, "provider", provider)
    yield memory
    for made in providers:
        made.shutdown()
    if otel._redis_instrumented:
        RedisInstrumentor().uninstrument()
        otel._redis_instrumented = False


def test_gateway_span_is_stored_and_attempts_are_its_children(settings: Settings, broker: Broker,
                                                              exported: InMemorySpanExporter) -> None:
    traced = settings.with_overrides(otel_exporter_otlp_endpoint="http://127.0.0.1:9")  # never reached
    client = create_app(traced, broker=broker).test_client()
    reply = client.post("/tasks", json={"type": "fail", "data": {"times": 1}}, headers={"traceparent": TP})
    task_id = reply.json["id"]
    record = client.get(f"/tasks/{task_id}").json
    assert trace_id(record["traceparent"]) == trace_id(TP)  # the caller's trace goes on

    worker = otel.WorkerTracing(traced, "w1", broker)
    for verdict in ("retry", "ok"):
        claims = broker.claim("w1", 1)
        worker.claimed(claims)
        worker.started(claims[0])
        ok = verdict == "ok"
        outcome = Outcome(task_id, claims[0].token, ok, "1" if ok else "boom", 0 if ok else 10)
        assert broker.finish("w1", [outcome]) == [verdict]
        worker.finished([outcome], [verdict])
        if not ok:
            broker.client.zadd(broker.keys.delayed, {task_id: 0})  # due now
            broker.reap(broker.elect("x") or 0)

    spans = exported.get_finished_spans()
    gateway = [s for s in spans if s.name == "POST /tasks"]
    attempts = [s for s in spans if s.name == "attempt fail"]
    assert len(gateway) == 1 and len(attempts) == 2
    assert {s.context.trace_id for s in spans if s.name in ("POST /tasks", "attempt fail")} == {int(trace_id(TP), 16)}
    assert all(a.parent is not None and a.parent.span_id == gateway[0].context.span_id for a in attempts)
    first, second = sorted(attempts, key=lambda s: s.attributes["taskq.attempt"])
    assert [e.name for e in first.events] == ["claimed", "started", "failed", "retry_scheduled"]
    assert [e.name for e in second.events][-2:] == ["started", "succeeded"]
    assert "previous attempt: retry_scheduled" in [e.name for e in second.events]
    assert second.attributes["taskq.verdict"] == "ok" and second.attributes["taskq.worker.id"] == "w1"


def test_batch_submit_is_one_span_whose_context_every_task_stores(settings: Settings, broker: Broker,
                                                                   exported: InMemorySpanExporter) -> None:
    traced = settings.with_overrides(otel_exporter_otlp_endpoint="http://127.0.0.1:9")
    client = create_app(traced, broker=broker).test_client()
    reply = client.post("/tasks/batch", json={"tasks": [{"type": "echo", "data": i} for i in range(3)]})
    ids = [t["id"] for t in reply.json["tasks"]]
    [span] = [s for s in exported.get_finished_spans() if s.name == "POST /tasks/batch"]
    assert span.attributes["taskq.task_count"] == 3 and list(span.attributes["taskq.task_ids"]) == ids
    stored = {r["traceparent"].rsplit("-", 1)[0] for r in broker.get_many(ids)}  # flags: sampled (+ random)
    assert stored == {f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}"}


def test_a_failing_hook_costs_a_span_not_the_claim(settings: Settings, broker: Broker,
                                                   exported: InMemorySpanExporter) -> None:
    worker = otel.WorkerTracing(settings.with_overrides(otel_exporter_otlp_endpoint="http://127.0.0.1:9"),
                                "w1", broker)
    worker.claimed([None])  # type: ignore[list-item]  # a hook bug: logged, not raised
