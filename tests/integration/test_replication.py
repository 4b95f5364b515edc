"""Replication against real redis-server processes: durable acknowledgement and Sentinel failover.

Split from test_semantics.py (issue 2, "Semantics") to keep each module short.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from system.broker import Broker
from system.config import Settings
from system.errors import NotDurable
from tests.integration.test_semantics import spec, submit
from tests.support.servers import RedisServer, free_port, wait_until


class Sentinel:
    """A throw-away redis-sentinel monitoring `mymaster`; stopped by stop()."""

    def __init__(self, primary_port: int, *, quorum: int) -> None:
        self.port = free_port()
        self.dir = tempfile.TemporaryDirectory(prefix="tq-sentinel-")
        conf = Path(self.dir.name) / "sentinel.conf"
        conf.write_text(f"port {self.port}\nbind 127.0.0.1\ndir {self.dir.name}\n"
                        f"sentinel monitor mymaster 127.0.0.1 {primary_port} {quorum}\n"
                        "sentinel down-after-milliseconds mymaster 1000\n"
                        "sentinel failover-timeout mymaster 4000\n")
        self.proc = subprocess.Popen(["redis-sentinel", str(conf)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.client = redis.Redis(port=self.port, decode_responses=True)
        wait_until(self.client.ping, timeout=10, message=f"redis-sentinel on {self.port}")

    def stop(self) -> None:
        self.client.close()
        self.proc.kill()
        self.proc.wait()
        self.dir.cleanup()


@pytest.fixture
def replicated() -> Iterator[tuple[RedisServer, RedisServer]]:
    """A primary and one replica in sync."""
    primary = RedisServer("--repl-diskless-sync-delay", "0")
    replica = RedisServer("--replicaof", "127.0.0.1", str(primary.port))
    try:
        check = redis.Redis(port=replica.port, decode_responses=True)
        wait_until(lambda: check.info("replication")["master_link_status"] == "up", timeout=10,
                   message="the replica to sync")
        check.close()
        yield primary, replica
    finally:
        replica.stop()
        primary.stop()


def test_durable_ack_waits_for_a_replica(replicated: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = replicated
    durable = Broker(Settings(redis_url=primary.url, durable_ack=True, durable_ack_timeout_ms=2000))
    try:
        ids = submit(durable, spec(data="kept"), spec(data="twice"))
        on_replica = redis.Redis(port=replica.port, decode_responses=True)
        assert [on_replica.hget(durable.keys.task(i), "status") for i in ids] == ["queued", "queued"]
        on_replica.close()
    finally:
        durable.client.close()


def test_durable_ack_without_a_replica_is_not_durable(broker: Broker) -> None:
    durable = Broker(broker.settings.with_overrides(durable_ack=True, durable_ack_timeout_ms=200),
                     client=broker.client)
    for _ in range(2):  # the client retries with the same key: still one task, still not confirmed
        with pytest.raises(NotDurable, match="retry with the same Idempotency-Key"):
            durable.submit([spec(idempotency_key="k")])
    assert broker.stats()["submitted"] == 1


def test_sentinel_failover_moves_the_broker_to_the_new_primary(
        replicated: tuple[RedisServer, RedisServer]) -> None:
    primary, replica = replicated
    sentinels = [Sentinel(primary.port, quorum=2) for _ in range(3)]
    try:
        wait_until(lambda: all(len(s.client.sentinel_sentinels("mymaster")) == 2 and
                               s.client.sentinel_slaves("mymaster") for s in sentinels),
                   timeout=15, message="the sentinels to find each other and the replica")
        via = Broker(Settings(redis_sentinels=tuple(("127.0.0.1", s.port) for s in sentinels),
                              redis_socket_timeout=0.5))
        before, = submit(via, spec(data="before"))
        with redis.Redis(port=replica.port) as on_replica:
            wait_until(lambda: on_replica.exists(via.keys.task(before)), timeout=5,
                       message="the task to reach the replica")
        primary.proc.kill()

        def works() -> bool:
            after, = submit(via, spec(data="after"))
            return via.get(after)["status"] == "queued" and via.get(before)["data"] == "before"
        wait_until(works, timeout=30, interval=0.2, message="the broker to work after the failover")
        assert sentinels[0].client.sentinel_get_master_addr_by_name("mymaster")[1] == replica.port
        assert via.redis_info()["role"] == "master"
        via.client.close()
    finally:
        for s in sentinels:
            s.stop()
