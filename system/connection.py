"""Creating the Redis client: a plain URL, or the primary found through Sentinel.

Workers name every connection (`CLIENT SETNAME`, sent by redis-py on each connect, so the
name survives reconnects and Sentinel failovers): the leader reads `CLIENT LIST` and knows
at once when a worker's last connection closed, i.e. the process is gone (see
system/worker/lost.py).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel

from system.config import Settings, redact_url
from system.errors import ConfigError

WORKER_NAME_TAG = "taskq-worker"


def worker_client_name(key_prefix: str, instance: str) -> str:
    """The connection name of a worker process: its key prefix and instance (worker id + nonce),
    each percent-encoded, so the name has no space and splits back unambiguously."""
    return f"{WORKER_NAME_TAG}:{quote(key_prefix, safe='')}:{quote(instance, safe='')}"


def worker_instance(key_prefix: str, client_name: str) -> str | None:
    """The worker instance a connection name stands for, None for other clients or prefixes."""
    tag, _, rest = client_name.partition(":")
    prefix, _, instance = rest.partition(":")
    if tag != WORKER_NAME_TAG or not instance or unquote(prefix) != key_prefix:
        return None
    return unquote(instance)


def connect(settings: Settings, *, client_name: str | None = None) -> redis.Redis:
    """A client that reconnects by itself; with Sentinel it follows failovers of the primary.

    `client_name` is set on every connection it opens (workers: `worker_client_name`)."""
    common = dict(
        client_name=client_name,
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
