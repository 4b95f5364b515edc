"""HTTP routes: parse and validate the request, call the broker, shape the answer."""

from __future__ import annotations

import json
from contextlib import AbstractContextManager
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from system.broker import Broker
from system.config import Settings
from system.errors import BrokerUnavailable, ValidationError
from system.gateway.openapi import openapi_document
from system.handlers import REGISTRY
from system.metrics import render
from system.model import STATUSES, TaskSpec, parse_task
from system.tracing import NO_SPAN

api = Blueprint("api", __name__)


def _broker() -> Broker:
    return current_app.extensions["broker"]


def _settings() -> Settings:
    return current_app.extensions["settings"]


def _submit_span(route: str) -> AbstractContextManager[Any]:
    """The submit's span (system.otel.SubmitSpan) when tracing is on; a shared no-op when off.
    Either has `.trace` (what each task stores) and `.tasks(results, status)`."""
    tracer = current_app.extensions.get("tracing")
    return tracer.submit(route, request.headers) if tracer else NO_SPAN


def _json_body() -> Any:
    if not request.mimetype or request.mimetype != "application/json":
        raise ValidationError(f"Content-Type must be application/json, got {request.mimetype or 'none'!r}; "
                              "add -H 'Content-Type: application/json'", code="unsupported_media_type",
                              status=415)
    try:
        raw = request.get_data(cache=False)
    except HTTPException:
        raise
    except Exception as exc:  # noqa: BLE001 - the server's body reader (gunicorn: ParseException) on a bad
        # chunk size or terminator; no Redis or app state is touched while reading, so it is the client's error
        raise ValidationError(f"malformed request body ({type(exc).__name__}): send Content-Length, or valid "
                              "chunked encoding", code="malformed_body") from None
    if len(raw) > _settings().max_payload_bytes:  # a chunked body (no Content-Length) over the limit
        raise RequestEntityTooLarge()
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError(f"malformed JSON body: {exc}", code="malformed_json") from None
    except RecursionError:
        raise ValidationError("malformed JSON body: nested too deeply", code="malformed_json") from None


def _empty_json_body() -> None:
    """State-changing requests without a payload still need `{}` with a JSON Content-Type: an HTML
    form cannot send that cross-site without a CORS preflight, which this API never grants."""
    body = _json_body()
    if not isinstance(body, dict):
        raise ValidationError("body must be a JSON object: -d '{}'")
    if body:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(body))}; send an empty object {{}}",
                              code="unknown_field")


def _reject_constant(name: str) -> Any:
    """NaN and Infinity are not JSON; accepting them would store data no client can read back."""
    raise ValueError(f"{name} is not valid JSON (use null or a number)")


def _spec(body: Any, key: str | None = None) -> TaskSpec:
    settings = _settings()
    return parse_task(body, default_max_retries=settings.max_retries,
                      default_timeout=settings.default_timeout_s, idempotency_key=key)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise ValidationError(f"query parameter {name} must be a whole number from {low} to {high}")
    return int(raw)


@api.get("/")
def index():
    return jsonify({"service": "taskqueue gateway", "endpoints": ["GET /",
        "POST /tasks", "POST /tasks/batch", "GET /tasks", "GET /tasks/<id>", "DELETE /tasks/<id>",
        "GET /workers", "GET /health", "GET /queues", "GET /dlq", "POST /dlq/<id>/retry",
        "GET /metrics", "GET /stats", "GET /types", "GET /openapi.json", "GET /dashboard",
        "GET /dashboard/<name>", "GET /dashboard/stream"]})


@api.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@api.get("/types")
def types():
    return jsonify({name: t.doc for name, t in REGISTRY.items()})


@api.post("/tasks")
def submit():
    key = request.headers.get("Idempotency-Key")
    with _submit_span("/tasks") as span:
        spec = _spec(_json_body(), key)
        [(task_id, created)] = results = _broker().submit([spec], span.trace)
        span.tasks(results, 202 if created else 200)
    status = "queued" if created else _broker().get(task_id)["status"]
    return jsonify({"id": task_id, "status": status, "priority": spec.priority, "created": created}), \
        202 if created else 200


@api.post("/tasks/batch")
def submit_batch():
    body = _json_body()
    tasks = body.get("tasks") if isinstance(body, dict) else None
    if not isinstance(tasks, list) or not tasks:
        raise ValidationError('body must be {"tasks": [{"type": ...}, ...]} with at least one task')
    limit = _settings().max_batch
    if len(tasks) > limit:
        raise ValidationError(f"a batch holds at most {limit} tasks (MAX_BATCH), got {len(tasks)}",
                              code="batch_too_large", status=413)
    specs, bad = [], []
    for index, task in enumerate(tasks):
        try:
            specs.append(_spec(task))
        except ValidationError as exc:
            bad.append({"index": index, "code": exc.code, "message": str(exc)})
    if bad:
        error = ValidationError(f"{len(bad)} of {len(tasks)} tasks are invalid (indexes "
                                f"{', '.join(str(b['index']) for b in bad[:20])}); nothing was stored",
                                code="invalid_batch")
        error.details = bad  # type: ignore[attr-defined]
        raise error
    with _submit_span("/tasks/batch") as span:
        results = _broker().submit(specs, span.trace)
        span.tasks(results, 202)
    return jsonify({"tasks": [{"id": task_id, "status": "queued" if created else "exists", "created": created}
                              for task_id, created in results]}), 202


@api.get("/tasks")
def list_tasks():
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise ValidationError(f"status must be one of {', '.join(STATUSES)}")
    kind = request.args.get("type")
    if kind is not None and kind not in REGISTRY:
        raise ValidationError(f"type must be one of {', '.join(REGISTRY)}")
    with_events = request.args.get("events", "0")
    if with_events not in ("0", "1"):
        raise ValidationError("query parameter events must be 0 or 1")
    records, cursor = _broker().list_tasks(status=status, kind=kind, limit=_int_arg("limit", 50, 1, 1000),
                                           cursor=_int_arg("cursor", 0, 0, 10**12), events=with_events == "1")
    return jsonify({"tasks": records, "count": len(records), "next_cursor": cursor})


@api.get("/tasks/<task_id>")
def get_task(task_id: str):
    return jsonify(_broker().get(task_id))


@api.delete("/tasks/<task_id>")
def cancel_task(task_id: str):
    _broker().cancel(task_id)
    return jsonify({"id": task_id, "status": "cancelled"})


@api.get("/workers")
def workers():
    live, leader = _broker().workers()
    return jsonify({"workers": live, "count": len(live), "leader": leader})


@api.get("/queues")
def queues():
    return jsonify(_broker().queue_depths())


@api.get("/stats")
def stats():
    return jsonify(_broker().stats())


@api.get("/dlq")
def dead_letters():
    records, total = _broker().dead_letters(limit=_int_arg("limit", 50, 1, 1000),
                                            offset=_int_arg("offset", 0, 0, 10**12))
    return jsonify({"tasks": records, "count": len(records), "total": total})


@api.post("/dlq/<task_id>/retry")
def redrive(task_id: str):
    _empty_json_body()
    _broker().redrive(task_id)
    return jsonify({"id": task_id, "status": "queued"}), 202


@api.get("/health")
def health():
    broker = _broker()
    try:
        info = broker.redis_info()
        live, leader = broker.workers()
        depths = broker.queue_depths()
    except BrokerUnavailable as exc:
        return jsonify(_public({"status": "down", "redis": {"ok": False, "error": str(exc)}, "workers": 0,
                                "leader": None, "queues": None})), 503
    stalled = {w["id"]: w["stalled"] for w in live if w.get("stalled")}
    reason = "no live workers" if not live else _stall_reason(stalled)
    body = {"status": "degraded" if reason else "ok", "redis": {"ok": True, **info},
            "workers": len(live), "leader": leader, "queues": depths, "stalled": stalled}
    if reason:
        body["reason"] = reason
    return jsonify(_public(body)), 503 if reason else 200


def _stall_reason(stalled: dict[str, list[str]]) -> str:
    """'' when no worker reports a stuck loop (WORKER_STALL_MS), else which ones."""
    parts = [f"{worker} ({'/'.join(loops)})" for worker, loops in stalled.items()]
    return f"stuck loops on {', '.join(parts)}" if parts else ""


def _public(health: dict[str, Any]) -> dict[str, Any]:
    """Without a token /health says only how things are, not where (no hosts, pids, Redis details)."""
    if g.get("access", "none") != "none":
        return health
    return {"status": health["status"], "redis": {"ok": health["redis"]["ok"]}, "workers": health["workers"],
            **({"reason": health["reason"]} if "reason" in health else {})}


@api.get("/metrics")
def metrics():
    return Response(render(_broker()), mimetype="text/plain; version=0.0.4")
