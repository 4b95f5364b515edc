"""Creating the Redis client: a plain URL, or the primary found through Sentinel."""

from __future__ import annotations

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from system.config import Settings, redact_url
from system.errors import ConfigError


def connect(settings: Settings) -> redis.Redis:
    """A client that reconnects by itself; with Sentinel it follows failovers of the primary."""
    common = dict(
        socket_timeout=settings.redis_socket_timeout,
        socket_connect_timeout=settings.redis_socket_timeout,
        health_check_interval=30,
        # No automatic retries: a script whose reply was lost may or may not have run, and
        # re-running it blindly is how queues duplicate work. Callers decide (see broker).
        retry=Retry(NoBackoff(), 0),
    )
    if settings.redis_sentinels:
        sentinel = Sentinel(
            list(settings.redis_sentinels),
            sentinel_kwargs={"socket_timeout": settings.redis_socket_timeout,
                             "password": settings.redis_sentinel_password},
            password=settings.redis_password,
            **common,
        )
        return sentinel.master_for(settings.redis_sentinel_master, decode_responses=True)
    try:
        return redis.Redis.from_url(settings.redis_url, password=settings.redis_password,
                                    decode_responses=True, **common)
    except ValueError:  # redis-py quotes the unparsable part, which may be the password
        raise ConfigError(f"REDIS_URL cannot be used: {redact_url(settings.redis_url)}") from None
