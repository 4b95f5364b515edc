"""parse_task (what clients may send) and task_record (what they read back)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from system.errors import ValidationError
from system.handlers import REGISTRY
from system.model import MAX_DATA_DEPTH, MAX_IDEMPOTENCY_KEY, MAX_RETRIES_LIMIT, TaskSpec, parse_task, task_record


def parse(body: Any, key: str | None = None) -> TaskSpec:
    return parse_task(body, default_max_retries=3, default_timeout=300.0, idempotency_key=key)


def rejected(body: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse(body)
    assert info.value.status == 400
    return info.value


def test_seed_request_gets_the_defaults() -> None:
    spec = parse({"type": "process", "data": "Hello World"})
    assert spec == TaskSpec(type="process", data="Hello World", priority="normal", max_retries=3,
                            timeout=300.0, idempotency_key="")
    assert spec.data_json() == '"Hello World"'


def test_all_options() -> None:
    spec = parse({"type": "sleep", "data": {"ms": 5}, "priority": "high", "max_retries": 0, "timeout": 2,
                  "idempotency_key": "order-7"})
    assert (spec.priority, spec.max_retries, spec.timeout, spec.idempotency_key) == ("high", 0, 2.0, "order-7")
    assert isinstance(spec.timeout, float)


def test_header_key_is_used_unless_the_body_has_one() -> None:
    assert parse({"type": "echo"}, key="h").idempotency_key == "h"
    assert parse({"type": "echo", "idempotency_key": "b"}, key="h").idempotency_key == "b"


@pytest.mark.parametrize("body", [None, [], "process", 3, [{"type": "echo"}]])
def test_non_object_body(body: Any) -> None:
    assert "JSON object" in str(rejected(body))


def test_missing_type_lists_known_types() -> None:
    error = rejected({"data": "x"})
    assert error.code == "missing_type"
    for name in REGISTRY:
        assert name in str(error)


@pytest.mark.parametrize("kind", ["nope", "", "PROCESS", 5, None.__class__.__name__, ["process"], {"a": 1}])
def test_unknown_type_lists_known_types(kind: Any) -> None:
    error = rejected({"type": kind, "data": 1})
    assert error.code == "unknown_type"
    assert "known types: process, sleep, cpu, fail, echo" in str(error)


def test_unknown_field_is_named() -> None:
    error = rejected({"type": "echo", "prio": "high"})
    assert error.code == "unknown_field"
    assert "prio" in str(error) and "priority" in str(error)


@pytest.mark.parametrize("priority", ["urgent", "", "HIGH", 1, None, ["high"]])
def test_bad_priority(priority: Any) -> None:
    error = rejected({"type": "echo", "priority": priority})
    assert error.code == "bad_priority"
    assert "high, normal, low" in str(error)


@pytest.mark.parametrize("value", [-1, MAX_RETRIES_LIMIT + 1, 1.5, "3", True, None])
def test_bad_max_retries(value: Any) -> None:
    error = rejected({"type": "echo", "max_retries": value})
    assert error.code == "bad_max_retries"
    assert f"0 to {MAX_RETRIES_LIMIT}" in str(error)


@pytest.mark.parametrize("value", [0, -1, 86401, float("nan"), float("inf"), "10", True, None])
def test_bad_timeout(value: Any) -> None:
    assert rejected({"type": "echo", "timeout": value}).code == "bad_timeout"


@pytest.mark.parametrize("key", [5, ["k"], "k" * (MAX_IDEMPOTENCY_KEY + 1)])
def test_bad_idempotency_key(key: Any) -> None:
    assert rejected({"type": "echo", "idempotency_key": key}).code == "bad_idempotency_key"


@pytest.mark.parametrize("body, fragment", [
    ({"type": "process"}, "process needs data"),
    ({"type": "sleep", "data": 5}, "data must be an object with ms"),
    ({"type": "sleep", "data": {"ms": "5"}}, "data.ms must be a number"),
    ({"type": "sleep", "data": {"ms": True}}, "data.ms must be a number"),
    ({"type": "sleep", "data": {"ms": -1}}, "between 0 and 3600000"),
    ({"type": "sleep", "data": {"seconds": 1}}, "unknown field(s) in data: seconds"),
    ({"type": "cpu", "data": {"ms": 10**9}}, "between 0 and 3600000"),
    ({"type": "fail", "data": {"times": -1}}, "0 or more"),
    ({"type": "fail", "data": {"times": 1.5}}, "data.times must be a whole number, got 1.5"),
    ({"type": "fail", "data": {"p": 1.5}}, "probability between 0 and 1"),
    ({"type": "fail", "data": {"always": "yes"}}, "data.always must be a boolean"),
    ({"type": "fail", "data": [1]}, "data must be an object"),
])
def test_bad_data_per_type_names_the_problem(body: dict, fragment: str) -> None:
    error = rejected(body)
    assert error.code == "bad_data"
    assert f"bad data for type {body['type']!r}" in str(error)
    assert fragment in str(error)


@pytest.mark.parametrize("data", [float("nan"), {"x": float("inf")}, {1, 2}, b"bytes", object()])
def test_data_that_is_not_plain_json_is_rejected(data: Any) -> None:
    error = rejected({"type": "echo", "data": data})
    assert error.code == "bad_data"
    assert "plain JSON" in str(error)


def test_data_nesting_is_limited() -> None:
    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth - 1):
            value = [value]
        return value

    assert parse({"type": "echo", "data": nested(MAX_DATA_DEPTH)}).data == nested(MAX_DATA_DEPTH)
    error = rejected({"type": "echo", "data": nested(MAX_DATA_DEPTH + 1)})
    assert f"deeper than {MAX_DATA_DEPTH}" in str(error)
    assert "deeper" in str(rejected({"type": "echo", "data": nested(100_000)}))


@pytest.mark.parametrize("body", [
    {"type": "sleep"}, {"type": "sleep", "data": {}}, {"type": "sleep", "data": {"ms": 0.5}},
    {"type": "cpu", "data": {"ms": 20}}, {"type": "fail", "data": {"times": 2}},
    {"type": "fail", "data": {"p": 0.3}}, {"type": "fail", "data": {"always": True}},
    {"type": "echo", "data": {"nested": [1, "two", None, {"three": 3.0}]}}, {"type": "noop"},
    {"type": "process", "data": {"any": "json"}},
])
def test_valid_requests_from_the_issue(body: dict) -> None:
    assert parse(body).type == body["type"]


def test_data_json_is_compact_and_round_trips() -> None:
    spec = parse({"type": "echo", "data": {"a": [1, 2], "ü": "ö"}})
    assert json.loads(spec.data_json()) == {"a": [1, 2], "ü": "ö"}
    assert " " not in spec.data_json()


def test_task_record_shapes_the_redis_hash() -> None:
    fields = {"id": "abc", "type": "echo", "data": '{"k":1}', "priority": "high", "status": "succeeded",
              "attempts": "2", "failures": "1", "expiries": "0", "max_retries": "3", "timeout": "30",
              "worker": "worker-2", "result": '{"k":1}', "error": "", "submitted_at": "1764340000123",
              "claimed_at": "1764340000400", "started_at": "1764340000500", "finished_at": "1764340001000",
              "idempotency_key": "",
              "token": "4", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    events = ['{"t":1764340000123,"event":"submitted","detail":"high"}',
              '{"t":1764340000500,"event":"claimed","worker":"worker-2","token":4}']
    record = task_record(fields, events)
    assert record == {
        "id": "abc", "type": "echo", "data": {"k": 1}, "priority": "high", "status": "succeeded",
        "attempts": 2, "failures": 1, "expiries": 0, "max_retries": 3, "timeout": 30.0,
        "worker": "worker-2", "result": {"k": 1}, "error": None, "submitted_at": 1764340000.123,
        "claimed_at": 1764340000.4, "started_at": 1764340000.5, "finished_at": 1764340001.0,
        "idempotency_key": None, "token": 4,
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": None,
        "events": [{"t": 1764340000.123, "event": "submitted", "detail": "high"},
                   {"t": 1764340000.5, "event": "claimed", "worker": "worker-2", "token": 4}]}


def test_task_record_of_a_fresh_task_has_nulls_and_no_events_unless_asked() -> None:
    record = task_record({"id": "x", "type": "echo", "data": "not json{", "status": "queued",
                          "submitted_at": "1000"})
    assert "events" not in record
    assert record["data"] == "not json{"  # kept as text rather than failing the read
    assert record["started_at"] is None and record["finished_at"] is None and record["worker"] is None
    assert record["submitted_at"] == 1.0 and record["attempts"] == 0
