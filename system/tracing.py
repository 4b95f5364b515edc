"""Distributed tracing switch and the pure parts of it (docs/tracing.md).

Tracing is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set. Off, nothing here imports
OpenTelemetry: the gateway and the worker hold `None` instead of a tracer and pay one `if`.
On, `system.otel` (the only module importing the SDK) builds the spans; what it needs to
know about a task's history is computed here, without the SDK, so it is unit-tested.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from system.config import Settings

if TYPE_CHECKING:
    from system.broker import Broker
    from system.otel import GatewayTracing, WorkerTracing

GATEWAY_SERVICE = "taskq-gateway"
WORKER_SERVICE = "taskq-worker"
TRACEPARENT = re.compile(r"[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}")
# How a previous attempt can end without its worker reporting it: its span never reached the
# collector (the process died), so the next attempt records it from the task's events.
LOST_ENDINGS = ("lease_expired", "worker_lost")
ENDINGS = (*LOST_ENDINGS, "succeeded", "failed", "released", "cancelled", "dead")


class _NoSpan:
    """Tracing off: no trace context to store, nothing to record."""

    trace = ("", "")

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def tasks(self, results: Sequence[tuple[str, bool]], status: int) -> None:
        return None


NO_SPAN = _NoSpan()


def enabled(settings: Settings) -> bool:
    return bool(settings.otel_exporter_otlp_endpoint)


def gateway_tracing(settings: Settings) -> GatewayTracing | None:
    """The gateway's tracer, or None when tracing is off (then the SDK is never imported)."""
    if not enabled(settings):
        return None
    from system.otel import GatewayTracing

    return GatewayTracing(settings)


def worker_tracing(settings: Settings, worker_id: str, broker: Broker) -> WorkerTracing | None:
    """The worker's tracer, or None when tracing is off."""
    if not enabled(settings):
        return None
    from system.otel import WorkerTracing

    return WorkerTracing(settings, worker_id, broker)


def trace_id(traceparent: str | None) -> str | None:
    """The 32-hex trace id of a W3C traceparent, None when absent or malformed."""
    match = TRACEPARENT.fullmatch(traceparent or "")
    return match.group(1) if match else None


class Step(NamedTuple):
    """One event of a task's history, as a span event: name, time (s), attributes."""

    name: str
    t: float
    attributes: dict[str, Any]


class PastAttempt(NamedTuple):
    """The attempt before the current one, read from the task's events."""

    token: int
    worker: str
    claimed_t: float
    ended_t: float | None  # None: no ending recorded yet
    ending: str  # lease_expired, worker_lost, failed, released, ... ('' when none)
    steps: list[Step]

    @property
    def lost(self) -> bool:
        """Its worker never reported it: nobody exported a span for it."""
        return self.ending in LOST_ENDINGS


def parse_events(raw: Sequence[str]) -> list[dict[str, Any]]:
    """The stored JSON events with times in seconds (as GET /tasks/<id> shows them)."""
    out = []
    for item in raw:
        event = json.loads(item)
        event["t"] = event["t"] / 1000
        out.append(event)
    return out


def previous_attempt(events: Sequence[dict[str, Any]], token: int) -> PastAttempt | None:
    """The attempt claimed just before the one holding `token`, with its events up to that
    claim; None for a first attempt. Only the direct predecessor: each attempt is described
    by the one after it, so a lost attempt is recorded once."""
    claims = [i for i, e in enumerate(events) if e["event"] == "claimed" and e.get("token", 0) < token]
    if not claims:
        return None
    first = claims[-1]
    claim = events[first]
    prev_token = claim.get("token", 0)
    later = [e for e in events[first + 1:] if e.get("token", prev_token) == prev_token]
    steps, ending, ended = [], "", None
    for event in later:
        if event["event"] == "claimed":
            break
        attributes = {k: v for k, v in event.items() if k not in ("t", "event") and v not in (None, "")}
        steps.append(Step(event["event"], event["t"], attributes))
        if not ending and event["event"] in ENDINGS:
            ending, ended = event["event"], event["t"]
    return PastAttempt(prev_token, claim.get("worker", ""), claim["t"], ended, ending, steps)
