"""The registry of task types: the only code a worker will run (no pickle, no eval).

Each type has a handler and a validator; the gateway validates `data` at submit time, so a
bad payload is a 400 for the client rather than a dead task later.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from system.cancellation import Cancellation
from system.errors import ValidationError


class TaskFailed(Exception):
    """Raised by a handler to fail the attempt (it will be retried or dead-lettered)."""


class TaskContext(NamedTuple):
    """What a handler may know about its attempt; `cancelled` is set on timeout or lost lease.

    A tuple: one is built per task run, and it is read-only."""

    task_id: str
    attempt: int
    deadline: float
    cancelled: Cancellation
    process_work_ms: int = 0


Handler = Callable[[Any, TaskContext], Any]
Validator = Callable[[Any], None]


@dataclass(frozen=True)
class TaskType:
    name: str
    run: Handler
    validate: Validator
    doc: str


def _require_object(data: Any, keys: dict[str, type | tuple[type, ...]]) -> dict:
    if not isinstance(data, dict):
        raise ValidationError(f"data must be an object with {', '.join(keys)}")
    unknown = set(data) - set(keys)
    if unknown:
        raise ValidationError(f"unknown field(s) in data: {', '.join(sorted(unknown))}; "
                              f"allowed: {', '.join(keys)}")
    for key, kind in keys.items():
        kinds = kind if isinstance(kind, tuple) else (kind,)
        value = data.get(key)
        if key in data and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
            names = " or ".join(dict.fromkeys(
                "boolean" if k is bool else "number" if float in kinds and k in (int, float)
                else "whole number" if k is int else k.__name__ for k in kinds))
            raise ValidationError(f"data.{key} must be a {names}, got {value!r}")
    return data


def _wait(ms: float, ctx: TaskContext) -> None:
    """Sleep that ends early when the attempt is cancelled (timeout, lost lease, shutdown)."""
    if ms > 0 and ctx.cancelled.wait(ms / 1000):
        raise TaskFailed("cancelled")


def _process(data: Any, ctx: TaskContext) -> dict:
    text = data if isinstance(data, str) else repr(data)
    _wait(ctx.process_work_ms, ctx)
    return {"upper": text.upper(), "length": len(text),
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


def _validate_process(data: Any) -> None:
    if data is None:
        raise ValidationError("process needs data, e.g. \"data\": \"Hello World\"")


def _elapsed_ms(since: float) -> float:
    """Milliseconds the handler itself ran: the harness checks a task really took its `ms`."""
    return round((time.monotonic() - since) * 1000, 3)


def _sleep(data: dict | None, ctx: TaskContext) -> dict:
    data = data or {}  # the validator accepts no data: the documented defaults apply
    began = time.monotonic()
    _wait(data.get("ms", 100), ctx)
    return {"slept_ms": data.get("ms", 100), "elapsed_ms": _elapsed_ms(began)}


def _validate_ms(data: Any) -> None:
    data = _require_object({} if data is None else data, {"ms": (int, float)})
    if not 0 <= data.get("ms", 0) <= 3_600_000:
        raise ValidationError("data.ms must be between 0 and 3600000")


def _cpu(data: dict | None, ctx: TaskContext) -> dict:
    data = data or {}
    began = time.monotonic()
    end = time.perf_counter() + data.get("ms", 20) / 1000
    rounds = 0
    digest = b""
    while time.perf_counter() < end:
        digest = hashlib.sha256(digest).digest()
        rounds += 1
        if rounds % 1000 == 0 and ctx.cancelled.is_set():
            raise TaskFailed("cancelled")
    return {"rounds": rounds, "digest": digest.hex()[:16], "elapsed_ms": _elapsed_ms(began)}


def _fail(data: dict | None, ctx: TaskContext) -> dict:
    data = data or {}
    if data.get("always"):
        raise TaskFailed("always fails (poison task)")
    if ctx.attempt <= data.get("times", 0):
        raise TaskFailed(f"fails the first {data['times']} attempts (this was attempt {ctx.attempt})")
    if random.random() < data.get("p", 0.0):
        raise TaskFailed(f"failed with probability {data['p']}")
    return {"attempt": ctx.attempt}


def _validate_fail(data: Any) -> None:
    data = _require_object({} if data is None else data,
                           {"times": int, "p": (int, float), "always": bool})
    if not 0 <= data.get("p", 0) <= 1:
        raise ValidationError("data.p is a probability between 0 and 1")
    if data.get("times", 0) < 0:
        raise ValidationError("data.times must be 0 or more")


def _echo(data: Any, ctx: TaskContext) -> Any:
    return data


def _no_check(data: Any) -> None:
    return None


REGISTRY: dict[str, TaskType] = {t.name: t for t in (
    TaskType("process", _process, _validate_process, "transform data: upper case, length, sha256"),
    TaskType("sleep", _sleep, _validate_ms, "wait data.ms milliseconds (default 100)"),
    TaskType("cpu", _cpu, _validate_ms, "busy work for data.ms milliseconds (default 20)"),
    TaskType("fail", _fail, _validate_fail,
             "fail: {times: k} the first k attempts, {p: 0.3} at random, {always: true} forever"),
    TaskType("echo", _echo, _no_check, "return data unchanged"),
    TaskType("noop", _echo, _no_check, "do nothing (benchmarks)"),
)}
