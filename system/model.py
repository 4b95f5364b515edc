"""Task requests and records: validation of what clients send and the shape of what they read.

Pure: no Redis, no Flask. The gateway and the Python client both go through `parse_task`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from system.errors import ValidationError
from system.handlers import REGISTRY
from system.keys import PRIORITIES

try:
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - orjson is in requirements.txt; json does the same, slower
    _orjson_loads = None

STATUSES = ("queued", "reserved", "running", "succeeded", "failed", "retry_scheduled", "dead", "cancelled")
TASK_FIELDS = ("type", "data", "priority", "max_retries", "timeout", "idempotency_key")
MAX_RETRIES_LIMIT = 100
MAX_IDEMPOTENCY_KEY = 200
TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def is_task_id(raw: str) -> bool:
    """Ids are generated hex; anything else (e.g. 'x:events', which names another key) is unknown."""
    return TASK_ID.fullmatch(raw) is not None
MAX_DATA_DEPTH = 64


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """A validated request to run one task."""

    type: str
    data: Any
    priority: str
    max_retries: int
    timeout: float
    idempotency_key: str = ""

    def data_json(self) -> str:
        return json.dumps(self.data, separators=(",", ":"))

    def fingerprint(self) -> str:
        """What a repeated Idempotency-Key must match: the same request, or 422 (as Stripe does)."""
        request = [self.type, self.data, self.priority, self.max_retries, self.timeout]
        return hashlib.sha256(json.dumps(request, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:32]


def parse_task(body: Any, *, default_max_retries: int, default_timeout: float,
               idempotency_key: str | None = None) -> TaskSpec:
    """Validate one task object; the message names the field and what would be valid."""
    if not isinstance(body, Mapping):
        raise ValidationError('a task must be a JSON object like {"type": "process", "data": "Hello World"}')
    unknown = set(body) - set(TASK_FIELDS)
    if unknown:
        raise ValidationError(f"unknown field(s): {', '.join(sorted(unknown))}; "
                              f"allowed: {', '.join(TASK_FIELDS)}", code="unknown_field")
    kind = body.get("type")
    if kind is None:
        raise ValidationError(f"missing field 'type'; known types: {', '.join(REGISTRY)}",
                              code="missing_type")
    if not isinstance(kind, str) or kind not in REGISTRY:
        raise ValidationError(f"unknown task type {kind!r}; known types: {', '.join(REGISTRY)}",
                              code="unknown_type")
    data = body.get("data")
    _check_json_data(data)
    try:
        REGISTRY[kind].validate(data)
    except ValidationError as exc:
        raise ValidationError(f"bad data for type {kind!r}: {exc}", code="bad_data") from None
    priority = body.get("priority", "normal")
    if priority not in PRIORITIES:
        raise ValidationError(f"priority must be one of {', '.join(PRIORITIES)}, got {priority!r}",
                              code="bad_priority")
    max_retries = body.get("max_retries", default_max_retries)
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or \
            not 0 <= max_retries <= MAX_RETRIES_LIMIT:
        raise ValidationError(f"max_retries must be a whole number from 0 to {MAX_RETRIES_LIMIT}",
                              code="bad_max_retries")
    timeout = body.get("timeout", default_timeout)
    # comparisons only: math.isfinite(10**400) raises OverflowError; nan and inf fail them too
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 86400:
        raise ValidationError("timeout must be a number of seconds above 0 and at most 86400",
                              code="bad_timeout")
    key = body.get("idempotency_key", idempotency_key) or ""
    if not isinstance(key, str) or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationError(f"idempotency key must be a string of at most {MAX_IDEMPOTENCY_KEY} printable "
                              "characters (no CR/LF, control characters or lone surrogates)",
                              code="bad_idempotency_key")
    return TaskSpec(type=kind, data=data, priority=priority, max_retries=max_retries,
                    timeout=float(timeout), idempotency_key=key)


def _check_json_data(data: Any) -> None:
    """Data must round-trip through JSON and stay shallow: a deep value would pass the gateway
    yet break whoever decodes it later (recursion limits), far from the request that caused it."""
    pending, depth = [data], 0
    while pending:
        depth += 1
        if depth > MAX_DATA_DEPTH:
            raise ValidationError(f"data is nested deeper than {MAX_DATA_DEPTH} levels", code="bad_data")
        pending = [v for item in pending if isinstance(item, (dict, list))
                   for v in (item.values() if isinstance(item, dict) else item)]
    try:
        # UTF-8 encoding rejects lone surrogates ("\\ud800"), which no other client could decode
        json.dumps(data, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("data holds a lone UTF-16 surrogate (e.g. \"\\ud800\"), which is not text; "
                              "send valid Unicode", code="bad_data") from None
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"data must be plain JSON (objects, arrays, strings, finite numbers, "
                              f"true/false/null): {exc}", code="bad_data") from None


def _seconds(raw: str | None) -> float | None:
    return None if raw in (None, "") else int(raw) / 1000


def loads_json(raw: str | bytes) -> Any:
    """json.loads, by orjson when installed: several times faster on the records a million-task
    read-back decodes (docs/benchmarks.md, "The soak"); json takes what orjson refuses (NaN,
    Infinity, integers beyond 64 bits) and raises ValueError as before for what is not JSON."""
    if _orjson_loads is not None:
        try:
            return _orjson_loads(raw)
        except ValueError:
            pass
    return json.loads(raw)


def _json_or_text(raw: str | None) -> Any:
    if raw in (None, ""):
        return None
    try:
        return loads_json(raw)
    except ValueError:
        return raw


def task_record(fields: Mapping[str, str], events: list[str] | None = None) -> dict[str, Any]:
    """The API shape of a task (docs/contracts.md) from its Redis hash and event list."""
    record: dict[str, Any] = {
        "id": fields["id"],
        "type": fields.get("type"),
        "data": _json_or_text(fields.get("data")),
        "priority": fields.get("priority"),
        "status": fields.get("status"),
        "attempts": int(fields.get("attempts", 0)),
        "failures": int(fields.get("failures", 0)),
        "expiries": int(fields.get("expiries", 0)),
        "max_retries": int(fields.get("max_retries", 0)),
        "timeout": float(fields.get("timeout", 0)),
        "worker": fields.get("worker") or None,
        # an echo's result equal to its data is stored once (finish.lua sets result_ref)
        "result": _json_or_text(fields.get("data" if fields.get("result_ref") == "data" else "result")),
        "error": fields.get("error") or None,
        "submitted_at": _seconds(fields.get("submitted_at")),
        "claimed_at": _seconds(fields.get("claimed_at")),
        "started_at": _seconds(fields.get("started_at")),
        "finished_at": _seconds(fields.get("finished_at")),
        "idempotency_key": fields.get("idempotency_key") or None,
        "token": int(fields.get("token", 0)),
        "traceparent": fields.get("traceparent") or None,
        "tracestate": fields.get("tracestate") or None,
    }
    if events is not None:
        record["events"] = [_event(raw) for raw in events]
    return record


def _event(raw: str) -> dict[str, Any]:
    event = loads_json(raw)
    event["t"] = event["t"] / 1000
    return event
