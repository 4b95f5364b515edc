"""Fault targets on the local backend with real processes (redis, toxiproxy, workers):
a restarted worker is ready only on its own registration, and a `leader` target resolves to
a live leader after the previous one was killed (not to the dead one the key still names)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.backends.base import SystemSpec
from harness.backends.local import LocalBackend
from harness.backends.procs import wait_until
from harness.faults import Nemesis, pick_live_leader
from harness.history import FaultRecord
from harness.ledger import Ledger
from harness.recorder import Recorder, read_leader, read_registration
from harness.schedule import FaultEvent
from system.keys import Keys

pytestmark = pytest.mark.timeout(180)

FAST = {"LEASE_TTL_MS": "2000", "HEARTBEAT_INTERVAL_MS": "500", "LEADER_TTL_MS": "2000",
        "REAPER_INTERVAL_MS": "500",
        "WORKER_TTL_MS": "3000", "SHUTDOWN_GRACE_S": "3"}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalBackend, Ledger]]:
    ledger = Ledger.create(tmp_path_factory.mktemp("state"), "targets")
    backend = LocalBackend(ledger=ledger)
    try:
        backend.start(SystemSpec(workers=3, config=FAST))
        yield backend, ledger
    finally:
        problems = backend.teardown()
        backend.remove_workdir()
        ledger.close()
        assert problems == []


def _redis(backend: LocalBackend) -> redis.Redis:
    return redis.Redis.from_url(backend.endpoints().redis_url, socket_timeout=2, decode_responses=True)


def test_a_restarted_worker_is_ready_on_its_own_registration(system: tuple[LocalBackend, Ledger]) -> None:
    backend, _ = system
    with _redis(backend) as r:
        old = read_registration(r, Keys(), "worker-2")
        assert old.get("pid")
        backend.kill("worker-2")
        # the dead worker's entry is still there (its TTL has not run out) ...
        assert r.sismember(Keys().workers_active, "worker-2")
        backend.start_node("worker-2")
        # ... so readiness must have waited for the new process's own registration
        new = read_registration(r, Keys(), "worker-2")
    child = backend.nodes["worker-2"]
    assert child is not None and int(new["pid"]) == child.pid != int(old["pid"])


def test_leader_target_resolves_to_a_live_leader_after_a_kill(system: tuple[LocalBackend, Ledger],
                                                              tmp_path: Path) -> None:
    backend, ledger = system
    recorder = Recorder(redis_url=lambda: backend.endpoints().redis_url, keys=Keys(),
                        record=lambda _: None, clock=time.monotonic)

    def live() -> str | None:
        return pick_live_leader(recorder.leader_now(), backend.workers(), fresh_s=1.0)

    wait_until(lambda: live() is not None, timeout=15, what="a leader")
    first = live()
    assert first is not None
    backend.kill(first)
    with _redis(backend) as r:
        found = read_leader(r, Keys())
    assert found is not None and found[0] == first   # the key still names the dead leader
    records: list[FaultRecord] = []
    nemesis = Nemesis(backend, ledger=ledger, record=records.append, clock=time.monotonic,
                      leader=live, leader_wait=2.0 + 0.5 + 1.0)  # LEADER_TTL + reaper tick + slack
    nemesis.apply(FaultEvent(0.0, "start", "pause", "leader", "f1"), requested=time.monotonic())
    (start,) = records
    assert "error" not in start.detail, start.detail
    assert start.detail["targets"] != [first] and start.detail["leader_wait_s"] > 0
    nemesis.apply(FaultEvent(0.0, "end", "pause", "leader", "f1"))
    backend.start_node(first)
