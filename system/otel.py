"""OpenTelemetry spans of the gateway (submit) and the worker (one per attempt).

The only module that imports the OpenTelemetry SDK, and only when tracing is on
(system/tracing.py decides). Spans go to OTLP/HTTP at OTEL_EXPORTER_OTLP_ENDPOINT through a
batch processor, so no request or task waits for the collector. See docs/tracing.md.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Decision, ParentBased, Sampler, SamplingResult
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from system.broker import Broker, Claim, Outcome
from system.config import Settings
from system.errors import BrokerUnavailable
from system.tracing import GATEWAY_SERVICE, WORKER_SERVICE, PastAttempt, parse_events, previous_attempt

PROPAGATOR = TraceContextTextMapPropagator()
_redis_instrumented = False
log = logging.getLogger("system.otel")
F = TypeVar("F", bound=Callable[..., None])


def never_raises(method: F) -> F:
    """A tracing hook runs inside the worker's claim and ack loops: a bug in it must cost a
    span, never a claimed batch (logged, then ignored)."""

    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> None:
        try:
            method(*args, **kwargs)
        except Exception:  # noqa: BLE001 - see above
            log.exception("tracing hook %s failed; the task goes on untraced", method.__name__)

    return guarded  # type: ignore[return-value]


class NoRootClientSpans(Sampler):
    """Every span inside a trace, but no Redis command as a trace of its own: a heartbeat or a
    /health probe outside any submit would flood the backend with one-span traces."""

    def __init__(self) -> None:
        self._inner = _configured_sampler()

    def should_sample(self, parent_context: Context | None, trace_id: int, name: str,
                      kind: SpanKind | None = None, attributes: Any = None, links: Any = None,
                      trace_state: Any = None) -> SamplingResult:
        if kind is SpanKind.CLIENT and not trace.get_current_span(parent_context).get_span_context().is_valid:
            return SamplingResult(Decision.DROP)
        return self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "NoRootClientSpans"


def _configured_sampler() -> Sampler:
    """The sampler OTEL_TRACES_SAMPLER(_ARG) name (default: parent-based, always on), so e.g.
    `parentbased_traceidratio` with 0.1 keeps one trace in ten, decided once at the gateway."""
    try:
        from opentelemetry.sdk.trace.sampling import _get_from_env_or_default

        return _get_from_env_or_default()
    except ImportError:  # a private helper of the SDK: fall back to its documented default
        return ParentBased(ALWAYS_ON)


def provider(settings: Settings, service: str, instance: str) -> TracerProvider:
    """A tracer provider exporting OTLP/HTTP to the configured endpoint (not the global one)."""
    resource = Resource.create({"service.name": service, "service.instance.id": instance,
                                "taskq.instance": instance})
    result = TracerProvider(resource=resource, sampler=NoRootClientSpans())
    endpoint = settings.otel_exporter_otlp_endpoint.rstrip("/")
    traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or f"{endpoint}/v1/traces"
    result.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces)))
    return result


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class SubmitSpan:
    """The gateway's span around one submit; `trace` is what each task stores."""

    def __init__(self, span: trace.Span, carrier: Mapping[str, str]) -> None:
        self.span = span
        self.trace = (carrier.get("traceparent", ""), carrier.get("tracestate", ""))

    def tasks(self, results: Sequence[tuple[str, bool]], status: int) -> None:
        self.span.set_attribute("http.response.status_code", status)
        self.span.set_attribute("taskq.task_count", len(results))
        self.span.set_attribute("taskq.task_ids", [task_id for task_id, _ in results[:100]])
        self.span.set_attribute("taskq.created", sum(created for _, created in results))


class GatewayTracing:
    """Spans of POST /tasks and /tasks/batch; Redis commands inside them are child spans."""

    def __init__(self, settings: Settings) -> None:
        global _redis_instrumented
        self.provider = provider(settings, GATEWAY_SERVICE, f"{socket.gethostname()}-{os.getpid()}")
        self.tracer = self.provider.get_tracer("system.gateway")
        if not _redis_instrumented:  # patches redis-py once per process
            from opentelemetry.instrumentation.redis import RedisInstrumentor

            RedisInstrumentor().instrument(tracer_provider=self.provider)
            _redis_instrumented = True

    @contextmanager
    def submit(self, route: str, headers: Mapping[str, str]) -> Iterator[SubmitSpan]:
        """A SERVER span for the request, child of the caller's traceparent header if any."""
        parent = PROPAGATOR.extract(headers)
        with self.tracer.start_as_current_span(f"POST {route}", context=parent, kind=SpanKind.SERVER,
                                               attributes={"http.request.method": "POST", "url.path": route,
                                                           "http.route": route}) as span:
            carrier: dict[str, str] = {}
            PROPAGATOR.inject(carrier)
            yield SubmitSpan(span, carrier)


VERDICT_EVENTS = {"ok": ("succeeded",), "retry": ("failed", "retry_scheduled"), "dead": ("failed", "dead"),
                  "stale": ("stale_ack",), "duplicate": ("duplicate_ack",)}


class WorkerTracing:
    """One CONSUMER span per attempt, child of the submit's stored trace context.

    Opened when the claim arrives, ended when Redis confirms the outcome (or the task is
    handed back). An attempt whose worker died is recorded by the next attempt (see
    `_previous`), since the dead process never exported its span."""

    def __init__(self, settings: Settings, worker_id: str, broker: Broker) -> None:
        self.provider = provider(settings, WORKER_SERVICE, worker_id)
        self.tracer = self.provider.get_tracer("system.worker")
        self.broker = broker
        self.worker_id = worker_id
        self._spans: dict[tuple[str, str], trace.Span] = {}
        self._lock = threading.Lock()

    @never_raises
    def claimed(self, claims: Sequence[Claim]) -> None:
        try:
            contexts = self.broker.trace_contexts(claims)
        except BrokerUnavailable:  # spans without a parent rather than no spans
            contexts = [("", "", None)] * len(claims)
        for claim, (traceparent, tracestate, events) in zip(claims, contexts, strict=True):
            parent = PROPAGATOR.extract({"traceparent": traceparent, "tracestate": tracestate}) \
                if traceparent else None
            attributes = {"taskq.task_id": claim.id, "taskq.type": claim.type, "taskq.attempt": claim.attempt,
                          "taskq.token": int(claim.token), "taskq.priority": claim.priority,
                          "taskq.worker.id": self.worker_id}
            span = self.tracer.start_span(f"attempt {claim.type}", context=parent, kind=SpanKind.CONSUMER,
                                          attributes=attributes)
            span.add_event("claimed", {"taskq.worker.id": self.worker_id})
            if events:
                past = previous_attempt(parse_events(events), int(claim.token))
                if past is not None:
                    self._previous(claim, parent, span, past)
            with self._lock:
                self._spans[(claim.id, claim.token)] = span

    def _previous(self, claim: Claim, parent: Context | None, span: trace.Span, past: PastAttempt) -> None:
        """The previous attempt's ending as events of this span; if its worker died, a span for
        it rebuilt from the task's events (marked taskq.reconstructed)."""
        for step in past.steps:
            if step.name not in ("claimed", "started"):
                span.add_event(f"previous attempt: {step.name}", _attrs(step.attributes), timestamp=_ns(step.t))
        if not past.lost:
            return
        lost = self.tracer.start_span(
            f"attempt {claim.type}", context=parent, kind=SpanKind.CONSUMER, start_time=_ns(past.claimed_t),
            attributes={"taskq.task_id": claim.id, "taskq.type": claim.type, "taskq.token": past.token,
                        "taskq.worker.id": past.worker, "taskq.reconstructed": True,
                        "taskq.reconstructed_by": self.worker_id})
        lost.add_event("claimed", {"taskq.worker.id": past.worker}, timestamp=_ns(past.claimed_t))
        for step in past.steps:
            lost.add_event(step.name, _attrs(step.attributes), timestamp=_ns(step.t))
        lost.set_status(Status(StatusCode.ERROR, f"{past.ending}: worker {past.worker} did not report"))
        lost.end(end_time=_ns(past.ended_t or past.claimed_t))

    @never_raises
    def started(self, claim: Claim) -> None:
        span = self._spans.get((claim.id, claim.token))
        if span is not None:
            span.add_event("started")

    @never_raises
    def lease_lost(self, task_id: str, token: str) -> None:
        span = self._spans.get((task_id, token))
        if span is not None:
            span.add_event("lease_lost", {"detail": "the lease was not extended; another worker may run it"})

    @never_raises
    def finished(self, outcomes: Sequence[Outcome], verdicts: Sequence[str]) -> None:
        for outcome, verdict in zip(outcomes, verdicts, strict=True):
            with self._lock:
                span = self._spans.pop((outcome.id, outcome.token), None)
            if span is None:
                continue
            for name in VERDICT_EVENTS.get(verdict, (verdict,)):
                detail = {"error": outcome.payload} if name == "failed" else \
                    {"delay_ms": outcome.retry_delay_ms} if name == "retry_scheduled" else {}
                span.add_event(name, detail)
            span.set_attribute("taskq.verdict", verdict)
            if verdict not in ("ok", "duplicate"):
                span.set_status(Status(StatusCode.ERROR, outcome.payload[:200] if not outcome.ok else verdict))
            span.end()

    @never_raises
    def released(self, held: Sequence[tuple[str, str]], reason: str) -> None:
        for key in held:
            with self._lock:
                span = self._spans.pop(key, None)
            if span is not None:
                span.add_event("released", {"reason": reason})
                span.end()

    def shutdown(self) -> None:
        """End what is still open (its lease will expire) and flush to the collector."""
        with self._lock:
            spans, self._spans = list(self._spans.values()), {}
        for span in spans:
            span.add_event("worker stopped")
            span.end()
        self.provider.shutdown()


def _attrs(values: Mapping[str, Any]) -> dict[str, Any]:
    """Event fields as span attributes (OpenTelemetry takes str, bool, int, float only)."""
    return {k: v if isinstance(v, (str, bool, int, float)) else str(v) for k, v in values.items()}
