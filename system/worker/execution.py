"""Running one claimed task: handler lookup, timeout, and turning the result into an Outcome."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from system.broker import Claim, Outcome
from system.cancellation import Cancellation
from system.config import Settings
from system.handlers import REGISTRY, TaskContext
from system.retry import backoff_ms

# json.dumps with separators builds a new encoder per call; a result per task makes that show
encode_json = json.JSONEncoder(separators=(",", ":")).encode


@dataclass(slots=True)
class Attempt:
    """A task this worker holds: its claim, cancel flag and deadline (set when it starts)."""

    claim: Claim
    deadline: float = float("inf")  # a prefetched task's time limit has not started yet
    cancelled: Cancellation = field(default_factory=Cancellation)
    started: bool = False  # a thread took it from the prefetch buffer and runs it
    began: float = 0.0  # time.monotonic() when it started; reported to Redis with the acks
    claimed: float = field(default_factory=time.monotonic)  # when it entered the buffer
    reported: bool = False  # an outcome (result or timeout) was already queued, or it was handed back

    @property
    def held(self) -> tuple[str, str]:
        return self.claim.id, self.claim.token


def run_attempt(attempt: Attempt, settings: Settings) -> Outcome:
    """Run the handler and describe the outcome; never raises."""
    claim = attempt.claim
    ctx = TaskContext(claim.id, claim.attempt, attempt.deadline, attempt.cancelled, settings.process_work_ms)
    task_type = REGISTRY.get(claim.type)
    try:
        if task_type is None:
            raise LookupError(f"no handler for task type {claim.type!r} on this worker")
        result = task_type.run(claim.data, ctx)
        payload = encode_json(result)
    except Exception as exc:  # a handler's failure is data, not a crash of the worker
        return failure(claim, f"{type(exc).__name__}: {exc}", settings, attempt.began)
    if time.monotonic() > attempt.deadline:
        return failure(claim, f"timed out after {claim.timeout:g}s", settings, attempt.began)
    return Outcome(claim.id, claim.token, True, payload, 0, attempt.began)


def failure(claim: Claim, message: str, settings: Settings, began: float = 0.0) -> Outcome:
    delay = backoff_ms(claim.failures + 1, base_ms=settings.retry_base_ms, cap_ms=settings.retry_max_ms)
    return Outcome(claim.id, claim.token, False, message[:2000], delay, began)
