"""The project's own error hierarchy; nothing above system.broker sees redis-py exceptions."""

from __future__ import annotations


class TaskQueueError(Exception):
    """Base class: every error carries a stable machine-readable code and an HTTP status."""

    code = "internal"
    status = 500


class ConfigError(TaskQueueError):
    code = "bad_config"


class ValidationError(TaskQueueError):
    code = "invalid_request"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        if code:
            self.code = code
        if status:
            self.status = status


class NotFound(TaskQueueError):
    code = "not_found"
    status = 404


class Conflict(TaskQueueError):
    code = "conflict"
    status = 409


class IdempotencyConflict(TaskQueueError):
    """An Idempotency-Key came again with another request body (Stripe answers 422 too)."""

    code = "idempotency_key_reused"
    status = 422


class BrokerUnavailable(TaskQueueError):
    """Redis could not do what was asked now; asking again later may work (HTTP 503).

    Every Redis failure is one of these or a subclass, so a worker loop that catches this
    survives every broker error, and the gateway never answers 500 for one.
    """

    code = "redis_unavailable"
    status = 503
    retry_after_s = 1  # the gateway's Retry-After: Redis outages here last seconds, not minutes


class BrokerTimeout(BrokerUnavailable):
    """No answer in time: the command may or may not have been applied."""

    code = "redis_timeout"


class WritesRefused(BrokerUnavailable):
    """Redis answers but refuses writes: MISCONF (cannot persist), READONLY (a replica)."""

    code = "redis_refuses_writes"


class BrokerOutOfMemory(BrokerUnavailable):
    """Redis is at `maxmemory` with noeviction and refuses writes that need memory (HTTP 507)."""

    code = "redis_out_of_memory"
    status = 507
    retry_after_s = 5


class OutcomeUnknown(BrokerUnavailable):
    """A write was sent but its reply was lost (timeout, reset): it may or may not have landed."""

    code = "outcome_unknown"


class NotDurable(TaskQueueError):
    """DURABLE_ACK is on and no replica confirmed the write in time."""

    code = "not_replicated"
    status = 503


class Busy(TaskQueueError):
    """A bounded resource of the gateway (e.g. dashboard streams) is in use; retry later."""

    code = "busy"
    status = 503


class Backpressure(TaskQueueError):
    """A submit refused before Redis fills up (MAX_QUEUED, SUBMIT_MEMORY_BUDGET); nothing was
    stored, so the client may simply retry after `retry_after_s`."""

    code = "backpressure"
    status = 503

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
