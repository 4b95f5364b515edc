"""The Toxiproxy adapter and the local backend's Redis side, against real servers."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.backends.local_infra import RedisCluster, start_toxiproxy
from harness.backends.procs import Supervisor
from harness.ledger import Ledger, outstanding, read_records
from harness.toxiproxy import Toxiproxy, ToxiproxyError


@pytest.fixture
def sup(tmp_path: Path):
    ledger = Ledger.create(tmp_path, "t")
    s = Supervisor(ledger=ledger, log_dir=tmp_path)
    yield s
    assert s.stop_all(grace=3) == []
    ledger.close()
    assert outstanding(read_records(ledger.path)).processes == {}


def _client(port: int) -> redis.Redis:
    return redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1,
                       retry=Retry(NoBackoff(), 0))


def test_proxy_toxics_upstream_and_cleanup(sup: Supervisor, tmp_path: Path) -> None:
    cluster = RedisCluster(sup, tmp_path, aof=False)
    cluster.start(replica=True, sentinel=False)
    tp = start_toxiproxy(sup)
    primary, replica = cluster.nodes["redis-primary"], cluster.nodes["redis-replica"]

    proxy = tp.create_proxy("redis-worker-1", upstream=primary.address)
    port = int(proxy.listen.rsplit(":", 1)[1])
    assert port != 0
    with _client(port) as c:
        assert c.set("k", "v")

    tp.add_toxic("redis-worker-1", type="latency", stream="downstream",
                 attributes={"latency": 300, "jitter": 0})
    with _client(port) as c:
        t0 = time.monotonic()
        c.ping()
        assert time.monotonic() - t0 >= 0.28
    assert set(tp.toxics("redis-worker-1")) == {"latency_downstream"}

    # black hole: a command times out instead of failing fast
    tp.add_toxic("redis-worker-1", type="timeout", stream="upstream", attributes={"timeout": 0},
                 name="cut")
    with _client(port) as c, pytest.raises(redis.TimeoutError):
        c.ping()

    with pytest.raises(ToxiproxyError, match="no attribute"):
        tp.add_toxic("redis-worker-1", type="latency", attributes={"rate": 1})
    with pytest.raises(ToxiproxyError, match="ProxyExists"):
        tp.create_proxy("redis-worker-1", upstream=primary.address)

    # re-point keeps the listen port; the replica has the key
    assert tp.cleanup(delete_proxies=False) == []
    assert tp.toxics("redis-worker-1") == {}
    moved = tp.set_upstream("redis-worker-1", replica.address)
    assert moved.listen == proxy.listen and moved.upstream == replica.address
    with _client(port) as c:
        assert c.get("k") == b"v"
        assert c.info("replication")["role"] == "slave"

    assert tp.cleanup() == []
    assert tp.proxies() == {}


def test_unreachable_server_fails_fast_with_a_named_error() -> None:
    from harness.backends.procs import free_port
    tp = Toxiproxy(f"http://127.0.0.1:{free_port()}", timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(ToxiproxyError, match="does not answer"):
        tp.proxies()
    assert time.monotonic() - t0 < 3


def test_sentinel_failover_promotes_the_replica(sup: Supervisor, tmp_path: Path) -> None:
    cluster = RedisCluster(sup, tmp_path, aof=True)
    cluster.start(replica=True, sentinel=True)
    old = cluster.nodes["redis-primary"]
    with old.client() as c:
        c.set("before", "1")
        c.wait(1, 1000)
    assert cluster.sentinel_primary() == old.address
    t0 = time.monotonic()
    new = cluster.failover(timeout=30)
    took = time.monotonic() - t0
    assert new == "redis-replica" and cluster.primary == "redis-replica"
    with cluster.nodes[new].client() as c:
        assert c.get("before") == "1"
        assert c.set("after", "2")
    # the old primary rejoins as a replica of the new one
    cluster.start_node("redis-primary")
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        info = old.client().info("replication")
        if info.get("role") == "slave" and info.get("master_link_status") == "up":
            break
        time.sleep(0.1)
    else:
        pytest.fail("the old primary did not rejoin as a replica")
    assert took < 15
