"""The built-in task types: each does what the issue says, and stops early when cancelled."""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from typing import Any

import pytest

from system.cancellation import Cancellation
from system.errors import ValidationError
from system.handlers import REGISTRY, TaskContext, TaskFailed


def ctx(attempt: int = 1, *, work_ms: int = 0, cancelled: Cancellation | None = None) -> TaskContext:
    return TaskContext(task_id="t1", attempt=attempt, deadline=time.monotonic() + 60,
                       cancelled=cancelled or Cancellation(), process_work_ms=work_ms)


def run(kind: str, data: Any, **kwargs: Any) -> Any:
    REGISTRY[kind].validate(data)  # what the gateway accepts, the worker can run
    return REGISTRY[kind].run(data, ctx(**kwargs))


def test_registry_has_the_built_in_types_with_docs() -> None:
    assert {"process", "sleep", "cpu", "fail", "echo"} <= set(REGISTRY)
    for name, task_type in REGISTRY.items():
        assert task_type.name == name and task_type.doc


def test_process_transforms_and_checksums() -> None:
    result = run("process", "Hello World")
    assert result == {"upper": "HELLO WORLD", "length": 11,
                      "sha256": hashlib.sha256(b"Hello World").hexdigest()}
    json.dumps(result)


def test_process_accepts_any_json_data() -> None:
    assert run("process", {"a": 1})["length"] > 0


def test_process_work_time_is_configurable() -> None:
    start = time.perf_counter()
    run("process", "x", work_ms=80)
    assert time.perf_counter() - start >= 0.075


def test_sleep_waits_the_requested_time() -> None:
    start = time.perf_counter()
    result = run("sleep", {"ms": 60})
    assert result["slept_ms"] == 60 and result["elapsed_ms"] >= 59.9  # the harness checks both
    assert 0.055 <= time.perf_counter() - start < 1


@pytest.mark.parametrize("kind", ["sleep", "cpu", "fail"])
def test_no_data_uses_the_defaults(kind: str) -> None:
    # The validators accept a missing data field, so the handlers must too.
    if kind == "fail":
        assert run(kind, None) == {"attempt": 1}
    else:
        assert run(kind, None)


def test_sleep_stops_early_when_cancelled() -> None:
    cancelled = Cancellation()
    threading.Timer(0.05, cancelled.set).start()
    start = time.perf_counter()
    with pytest.raises(TaskFailed, match="cancelled"):
        run("sleep", {"ms": 5000}, cancelled=cancelled)
    assert time.perf_counter() - start < 2


def test_cpu_is_busy_for_about_the_requested_time() -> None:
    start = time.perf_counter()
    result = run("cpu", {"ms": 50})
    assert time.perf_counter() - start >= 0.045
    assert result["rounds"] > 100 and len(result["digest"]) == 16  # hashing, not sleeping


def test_cpu_stops_early_when_cancelled() -> None:
    cancelled = threading.Event()
    cancelled.set()
    start = time.perf_counter()
    with pytest.raises(TaskFailed, match="cancelled"):
        run("cpu", {"ms": 5000}, cancelled=cancelled)
    assert time.perf_counter() - start < 2


def test_fail_times_fails_the_first_attempts_only() -> None:
    data = {"times": 2}
    for attempt in (1, 2):
        with pytest.raises(TaskFailed, match=f"attempt {attempt}"):
            run("fail", data, attempt=attempt)
    assert run("fail", data, attempt=3) == {"attempt": 3}


def test_fail_always_never_succeeds() -> None:
    for attempt in (1, 5, 100):
        with pytest.raises(TaskFailed, match="poison"):
            run("fail", {"always": True}, attempt=attempt)


def test_fail_p_fails_about_that_often() -> None:
    random.seed(5)
    failures = 0
    for _ in range(2000):
        try:
            run("fail", {"p": 0.3})
        except TaskFailed:
            failures += 1
    assert 0.25 < failures / 2000 < 0.35


@pytest.mark.parametrize("data", [None, "text", 3, [1, {"a": None}], {"k": "v"}])
def test_echo_returns_data(data: Any) -> None:
    assert run("echo", data) == data


@pytest.mark.parametrize("kind, data", [("sleep", {"ms": -5}), ("sleep", "100"), ("cpu", {"ms": "x"}),
                                        ("fail", {"times": "2"}), ("fail", {"p": 2}), ("process", None),
                                        ("fail", {"always": 1})])
def test_validators_reject_what_handlers_cannot_run(kind: str, data: Any) -> None:
    with pytest.raises(ValidationError):
        REGISTRY[kind].validate(data)
