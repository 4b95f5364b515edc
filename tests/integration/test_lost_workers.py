"""Lost workers (issue 16): a worker whose connections all closed has its tasks re-queued within a
reaper tick; one whose connections stay open (frozen, cut off) is still handled by its lease.

Real worker processes, real redis-server and, for the partition, a real toxiproxy-server. The
lease is long (6 s) so that a re-queue within a tick cannot be a lease expiry in disguise.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.backends.local_infra import start_toxiproxy
from harness.backends.procs import Supervisor
from harness.ledger import Ledger
from system.broker import Broker, leader_instance
from system.config import Settings
from system.connection import worker_client_name, worker_instance
from system.model import TaskSpec, parse_task
from tests.support.outcomes import assert_delivered, events, wait_final
from tests.support.servers import Process, wait_until

LEASE_S = 6.0
MARGIN = 1.5  # seconds: process scheduling on a busy 2-core machine
LOST = "worker lost: its connections closed"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_overrides(lease_ttl_ms=int(LEASE_S * 1000), leader_ttl_ms=4000, worker_ttl_ms=4000)


def sleep_task(ms: int) -> TaskSpec:
    return parse_task({"type": "sleep", "data": {"ms": ms}}, default_max_retries=3, default_timeout=30.0)


def start(spawn: Callable[..., Process], broker: Broker, *names: str, **env: object) -> dict[str, Process]:
    procs = {n: spawn("system.worker", name=n, worker_id=n, worker_concurrency=2, **env) for n in names}
    wait_until(lambda: {w["id"] for w in broker.workers()[0]} >= set(names), timeout=15,
               message=f"workers {names} to register")
    seen_by_peers(broker, names)
    return procs


def seen_by_peers(broker: Broker, names: tuple[str, ...] | set[str]) -> None:
    """Wait until every worker's named connections are up and two reaper ticks have passed, so
    each node has seen the others connected (a worker killed before anyone saw it connected
    is left to its lease)."""
    wait_until(lambda: {i.split("#")[0] for i in names_on(broker)} >= set(names), timeout=15,
               message=f"named connections of {names}")
    until = redis_now(broker) + 2 * broker.settings.reaper_interval_ms / 1000
    wait_until(lambda: redis_now(broker) > until, timeout=5, message="two reaper ticks")


def redis_now(broker: Broker) -> float:
    seconds, micros = broker.client.time()
    return seconds + micros / 1e6


def held_by(broker: Broker, ids: list[str], worker: str, n: int) -> list[str]:
    def running() -> list[str]:
        found = [r["id"] for r in broker.get_many(ids) if r["status"] in ("reserved", "running")
                 and r["worker"] == worker]
        return found if len(found) >= n else []
    return wait_until(running, timeout=15, message=f"{worker} to hold {n} tasks")


def first_expiry(broker: Broker, task_id: str, worker: str) -> dict:
    ends = [e for e in events(broker.get(task_id), "lease_expired") if e["worker"] == worker]
    assert ends, f"{task_id}: no lease ended for {worker}"
    return ends[0]


def names_on(broker: Broker) -> dict[str, list[int]]:
    """Worker instance -> ids of its connections, as Redis sees them."""
    found: dict[str, list[int]] = {}
    for client in broker.client.client_list(_type="normal"):
        instance = worker_instance(broker.keys.prefix, client.get("name", ""))
        if instance:
            found.setdefault(instance, []).append(int(client["id"]))
    return found


def test_connection_names_round_trip() -> None:
    instance = leader_instance("host a:1")
    name = worker_client_name("tq:", instance)
    assert " " not in name and worker_instance("tq:", name) == instance
    assert worker_instance("other:", name) is None and worker_instance("tq:", "gunicorn") is None


def test_killed_worker_is_requeued_within_a_tick_not_a_lease(
        spawn: Callable[..., Process], broker: Broker, settings: Settings) -> None:
    procs = start(spawn, broker, "w1", "w2")
    ids = [i for i, _ in broker.submit([sleep_task(1500) for _ in range(4)])]
    victim = "w1" if held_by(broker, ids, "w1", 1) else "w2"
    held = held_by(broker, ids, victim, 1)
    procs[victim].signal(signal.SIGKILL)
    killed_at = redis_now(broker)
    records = wait_final(broker, ids, timeout=20)
    assert_delivered(records, statuses=("succeeded",))
    for task_id in held:
        expired = first_expiry(broker, task_id, victim)
        assert expired["detail"] == LOST
        assert expired["t"] - killed_at <= 2 * settings.reaper_interval_ms / 1000 + MARGIN < LEASE_S
    assert victim not in {w["id"] for w in broker.workers()[0]}  # its registration went with it
    assert int(broker.client.hget(broker.keys.stats, "worker_lost")) == 1  # reaped, not deregistered


def test_a_sigterm_worker_deregisters_itself_and_is_not_counted_lost(
        spawn: Callable[..., Process], broker: Broker, settings: Settings) -> None:
    procs = start(spawn, broker, "w1", "w2")
    procs["w1"].signal(signal.SIGTERM)
    assert procs["w1"].proc.wait(timeout=15) == 0
    assert "w1" not in {w["id"] for w in broker.workers()[0]}  # gone as it exited, not a tick later
    until = redis_now(broker) + 3 * settings.reaper_interval_ms / 1000 + MARGIN  # the leader looked
    wait_until(lambda: redis_now(broker) > until, timeout=10, message="three reaper ticks")
    assert int(broker.client.hget(broker.keys.stats, "worker_lost") or 0) == 0


def test_killed_leader_is_replaced_and_its_tasks_requeued_at_once(
        spawn: Callable[..., Process], broker: Broker, settings: Settings) -> None:
    procs = start(spawn, broker, "w1", "w2")
    leader = wait_until(lambda: broker.workers()[1], timeout=5, message="a leader")
    ids = [i for i, _ in broker.submit([sleep_task(1500) for _ in range(4)])]
    held = held_by(broker, ids, leader, 1)
    procs[leader].signal(signal.SIGKILL)
    killed_at = redis_now(broker)
    records = wait_final(broker, ids, timeout=20)
    assert_delivered(records, statuses=("succeeded",))
    for task_id in held:  # well before the leader TTL (4 s) and the lease (6 s) run out
        expired = first_expiry(broker, task_id, leader)
        assert expired["detail"] == LOST and expired["t"] - killed_at <= 1 + MARGIN
    assert broker.workers()[1] not in (None, leader)


def test_frozen_worker_keeps_its_connection_and_is_handled_by_its_lease(
        spawn: Callable[..., Process], broker: Broker, settings: Settings) -> None:
    procs = start(spawn, broker, "w1", "w2")
    ids = [i for i, _ in broker.submit([sleep_task(1000) for _ in range(4)])]
    held = held_by(broker, ids, "w1", 1)
    procs["w1"].signal(signal.SIGSTOP)
    frozen_at = redis_now(broker)
    try:
        wait_final(broker, ids, timeout=LEASE_S + 10)
    finally:
        procs["w1"].signal(signal.SIGCONT)
    for task_id in held:
        expired = first_expiry(broker, task_id, "w1")
        assert expired.get("detail") != LOST
        assert expired["t"] - frozen_at >= LEASE_S - 1.5  # the last extension was < 1 heartbeat before
    assert_delivered(wait_final(broker, ids, timeout=10), statuses=("succeeded",))


@pytest.fixture
def toxiproxy(tmp_path: Path) -> Iterator:
    ledger = Ledger.create(tmp_path, "t")
    sup = Supervisor(ledger=ledger, log_dir=tmp_path)
    try:
        yield start_toxiproxy(sup)
    finally:
        sup.stop_all(grace=3)
        ledger.close()


def proxied(toxiproxy, settings: Settings, name: str) -> str:
    upstream = settings.redis_url.split("//", 1)[1].split("/", 1)[0]
    proxy = toxiproxy.create_proxy(f"redis-{name}", upstream=upstream)
    return f"redis://{proxy.listen}/0"


@pytest.mark.parametrize("socket_timeout", [2.0, 10.0])
def test_through_toxiproxy_a_kill_closes_upstream_and_a_cut_is_not_a_death(
        socket_timeout: float, spawn: Callable[..., Process], broker: Broker, settings: Settings,
        toxiproxy) -> None:
    """As in the harness, each worker's Redis link passes its own proxy. A killed worker's
    proxied connections close upstream too, so Redis sees it go. A black-holed one's stay open,
    so its lease decides, until its own client gives up on them (REDIS_SOCKET_TIMEOUT): Toxiproxy
    passes that close on to Redis (a real partition would not), and the worker then counts as
    lost; never before, so a cut shorter than the socket timeout re-runs nothing."""
    procs = {n: spawn("system.worker", name=n, worker_id=n, worker_concurrency=2,
                      redis_url=proxied(toxiproxy, settings, n), redis_socket_timeout=socket_timeout,
                      worker_stall_ms=int(2000 * socket_timeout))
             for n in ("w1", "w2", "w3")}
    seen_by_peers(broker, set(procs))
    leader = wait_until(lambda: broker.workers()[1], timeout=5, message="a leader")
    cut_one, kill_one = sorted(set(procs) - {leader})  # the leader stays: it re-queues
    ids = [i for i, _ in broker.submit([sleep_task(1500) for _ in range(6)])]
    cut, killed = held_by(broker, ids, cut_one, 1), held_by(broker, ids, kill_one, 1)
    for stream in ("upstream", "downstream"):
        toxiproxy.add_toxic(f"redis-{cut_one}", type="timeout", stream=stream, attributes={"timeout": 0},
                            name=f"cut_{stream}")
    cut_at = redis_now(broker)
    procs[kill_one].signal(signal.SIGKILL)
    killed_at = redis_now(broker)
    records = wait_final(broker, ids, timeout=LEASE_S + 15)
    assert_delivered(records, statuses=("succeeded",))
    for task_id in killed:
        expired = first_expiry(broker, task_id, kill_one)
        assert expired["detail"] == LOST and expired["t"] - killed_at <= 1 + MARGIN
    for task_id in cut:
        expired = first_expiry(broker, task_id, cut_one)
        if socket_timeout > LEASE_S:  # its connections stayed open: the lease expired
            assert expired.get("detail") != LOST and expired["t"] - cut_at >= LEASE_S - 1.5
        else:
            assert expired["t"] - cut_at >= socket_timeout - 0.1
    toxiproxy.cleanup(delete_proxies=False)


def test_connection_blip_reruns_are_fenced(spawn: Callable[..., Process], broker: Broker) -> None:
    """CLIENT KILL of every connection of a live worker: the leader may take it for dead and
    re-queue its tasks; those re-runs are measured here and fencing keeps the blipped worker's
    results from being applied."""
    start(spawn, broker, "w1", "w2")
    ids = [i for i, _ in broker.submit([sleep_task(1500) for _ in range(4)])]
    held = held_by(broker, ids, "w1", 2)
    w1_instance, = [i for i in names_on(broker) if i.startswith("w1#")]
    for client_id in names_on(broker)[w1_instance]:
        broker.client.client_kill_filter(_id=client_id)
    records = wait_final(broker, ids, timeout=20)
    assert_delivered(records, statuses=("succeeded",))
    reruns = sum(len(events(r, "claimed")) - 1 for r in records)
    stale = sum(len(events(r, "stale_ack")) for r in records)
    print(f"blip: {reruns} extra executions of {len(held)} tasks held, {stale} stale acks")
    assert reruns <= len(held)
    for record in records:  # each success is the latest claim's, never the blipped attempt's
        success, = events(record, "succeeded")
        assert success["token"] == record["token"]
    wait_until(lambda: "w1" in {w["id"] for w in broker.workers()[0]}, timeout=5,
               message="w1 to register again after the blip")


def test_restarted_worker_with_the_same_id_keeps_its_tasks(broker: Broker, settings: Settings) -> None:
    """The re-queue is fenced by the registration: another instance of w1 registered since."""
    old, new = leader_instance("w1"), leader_instance("w1")
    ids = [i for i, _ in broker.submit([sleep_task(10) for _ in range(2)])]
    broker.claim("w1", 2)
    broker.heartbeat("w1", {"id": "w1", "instance": new})
    epoch = broker.elect("leader#1")
    _, now_ms, _ = broker.connected_workers()
    assert broker.reap_lost("leader#1", epoch, [("w1", old)], now_ms) == (epoch, 0, 0)
    assert [r["status"] for r in broker.get_many(ids)] == ["reserved", "reserved"]
    # the instance that registered is the one lost: its tasks go back, claimed-later ones stay
    assert broker.reap_lost("leader#1", epoch, [("w1", new)], now_ms - 60_000) == (epoch, 0, 0)
    assert broker.reap_lost("leader#1", epoch, [("w1", new)], now_ms + 1) == (epoch, 2, 0)
    assert [r["status"] for r in broker.get_many(ids)] == ["queued", "queued"]
    assert broker.reap_lost("other#1", epoch, [("w1", new)], now_ms) is None  # not the leader


def test_lost_leader_is_replaced_by_the_caller(broker: Broker) -> None:
    epoch = broker.elect("w1#dead")
    assert broker.reap_lost("w2#live", None, [("w9", "w9#x")], 0) is None  # the leader is alive
    new_epoch, _, _ = broker.reap_lost("w2#live", None, [("w1", "w1#dead")], 0)
    assert new_epoch == epoch + 1 and broker.elect("w2#live") == new_epoch
