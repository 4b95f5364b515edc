"""The Redis, client and clock faults (harness.faultkit) against real redis-server, real sockets
and real processes: each takes effect, and its undo puts things back."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from harness.backends.base import BackendError, Endpoints
from harness.backends.faketime import faketime_env, sleep_shim
from harness.backends.local import kill_children
from harness.faultkit import apply
from harness.slowclients import HALF_REQUEST
from tests.support.servers import RedisServer, wait_until

pytestmark = pytest.mark.timeout(60)


class DirectBackend:
    """The two things faultkit asks of a backend, for a bare redis-server on this host (the
    local backend's own helper kills the save child)."""

    name = "direct"

    def __init__(self, redis_url: str, gateway_url: str = "http://127.0.0.1:1") -> None:
        self._endpoints = Endpoints(gateway_url=gateway_url, redis_url=redis_url)

    def endpoints(self) -> Endpoints:
        return self._endpoints

    def kill_save_child(self, redis_pid: int) -> list[int]:
        return kill_children(redis_pid)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    s = RedisServer("--save", "", "--appendonly", "no")
    yield s
    s.stop()


@pytest.fixture
def r(server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(server.url, decode_responses=True, socket_timeout=30)
    client.flushall()
    for i in range(50):
        client.set(f"seed:{i}", "x" * 100)
    yield client
    client.close()


def test_redis_oom_refuses_writes_then_restores_the_limit(server: RedisServer, r: redis.Redis) -> None:
    effect = apply(DirectBackend(server.url), "redis_oom", {"headroom_kb": 16}, ["redis"], 5.0)
    assert r.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
    assert effect.detail["maxmemory"] == effect.detail["used_memory"] + 16 * 1024
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for i in range(10_000):
            r.set(f"fill:{i}", "y" * 200)
    assert effect.undo is not None
    effect.undo()
    assert r.config_get("maxmemory")["maxmemory"] == "0"
    r.set("after", "ok")


def test_redis_misconf_refuses_writes_until_undone(server: RedisServer, r: redis.Redis) -> None:
    effect = apply(DirectBackend(server.url), "redis_misconf", {}, ["redis"], 5.0)
    assert effect.detail["killed_save_child"]
    with pytest.raises(redis.exceptions.ResponseError, match="MISCONF"):
        r.set("refused", 1)
    with pytest.raises(redis.exceptions.ResponseError, match="MISCONF"):
        r.eval("return redis.call('SET', KEYS[1], 1)", 1, "refused")
    assert effect.undo is not None
    effect.undo()
    r.set("accepted", 1)
    assert r.config_get("save")["save"] == ""
    assert r.config_get("rdb-key-save-delay")["rdb-key-save-delay"] == "0"
    assert r.info("persistence")["rdb_last_bgsave_status"] == "ok"


def test_redis_misconf_that_cannot_fail_a_save_leaves_redis_as_it_was(server: RedisServer,
                                                                       r: redis.Redis) -> None:
    class NoChild(DirectBackend):
        def kill_save_child(self, redis_pid: int) -> list[int]:
            raise BackendError("no child")
    with pytest.raises(BackendError):
        apply(NoChild(server.url), "redis_misconf", {}, ["redis"], 5.0)
    assert r.config_get("save")["save"] == ""
    assert r.config_get("rdb-key-save-delay")["rdb-key-save-delay"] == "0"
    r.set("accepted", 1)
    pid = int(r.info("server")["process_id"])  # tidy up: SIGUSR1 is Redis's own "cancel the save"
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        os.kill(int(child), signal.SIGUSR1)
    wait_until(lambda: not r.info("persistence")["rdb_bgsave_in_progress"], timeout=10)
    assert r.info("persistence")["rdb_last_bgsave_status"] == "ok"


def _timed_set(url: str, out: list[float]) -> None:
    with redis.Redis.from_url(url, socket_timeout=30) as c:
        t = time.monotonic()
        c.set("during-stall", 1)
        out.append(time.monotonic() - t)


def test_redis_stall_write_blocks_writes_until_undone(server: RedisServer, r: redis.Redis) -> None:
    effect = apply(DirectBackend(server.url), "redis_stall", {"mode": "write"}, ["redis"], 20.0)
    took: list[float] = []
    writer = threading.Thread(target=_timed_set, args=(server.url, took))
    writer.start()
    writer.join(timeout=0.5)
    assert writer.is_alive(), "a write went through a paused Redis"
    assert r.get("seed:1")  # reads still answer in write mode
    assert effect.undo is not None
    effect.undo()
    writer.join(timeout=5)
    assert took and took[0] < 5


def test_redis_stall_all_holds_every_command_for_the_window(server: RedisServer, r: redis.Redis) -> None:
    effect = apply(DirectBackend(server.url), "redis_stall", {"mode": "all"}, ["redis"], 1.0)
    with redis.Redis.from_url(server.url, socket_timeout=10) as c:
        t = time.monotonic()
        c.get("seed:1")
        assert time.monotonic() - t >= 0.5
    assert effect.undo is not None
    effect.undo()


def test_client_kill_drops_every_normal_connection(server: RedisServer, r: redis.Redis) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(64) == b"+PONG\r\n"
        effect = apply(DirectBackend(server.url), "client_kill", {"type": "normal"}, ["redis"], None)
        assert effect.detail["killed"] >= 1 and effect.undo is None
        assert s.recv(64) == b"", "the connection survived CLIENT KILL"


class HalfRequestSink:
    """A real TCP listener that records what each connection sent and when it closed."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.closed = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
        conn.close()
        with self._lock:
            self.received.append(data)
            self.closed += 1


def test_slow_client_flood_holds_half_requests_and_closes_them() -> None:
    sink = HalfRequestSink()
    backend = DirectBackend("redis://127.0.0.1:1/0", gateway_url=f"http://127.0.0.1:{sink.port}")
    effect = apply(backend, "slow_client_flood", {"connections": 40}, ["gateway"], 5.0)
    assert effect.detail == {"opened": 40, "failed": 0}
    time.sleep(0.3)  # the flood is meant to hold: nothing may have closed
    assert sink.closed == 0
    assert effect.undo is not None
    figures = effect.undo()
    assert figures == {"held_at_end": 40, "dropped_by_server": 0}
    wait_until(lambda: sink.closed == 40, timeout=10)
    assert all(d.startswith(HALF_REQUEST) and b"\r\n\r\n" not in d for d in sink.received)
    sink.sock.close()


SLEEPER = """import json, queue, threading, time
t = time.monotonic(); time.sleep(0.2); slept = time.monotonic() - t
t = time.monotonic(); threading.Event().wait(0.2); waited = time.monotonic() - t
print(json.dumps([time.time(), time.monotonic(), slept, waited]))"""


def test_faketime_shifts_the_wall_clock_only_and_sleeps_still_work(tmp_path: Path) -> None:
    env = {**os.environ, **faketime_env(-90.0), "PYTHONPATH": str(sleep_shim(tmp_path))}
    before = time.time()
    out = subprocess.run([sys.executable, "-c", SLEEPER], env=env, capture_output=True, text=True,
                         check=True, timeout=30).stdout
    wall, mono, slept, waited = json.loads(out)
    assert -95 < wall - before < -85
    assert abs(mono - time.monotonic()) < 30
    assert 0.19 < slept < 2 and 0.19 < waited < 2


def test_without_the_sleep_shim_libfaketime_breaks_time_sleep(tmp_path: Path) -> None:
    """Why the shim exists (wolfcw/libfaketime#426): if this starts passing, drop the shim."""
    env = {**os.environ, **faketime_env(-90.0)}
    run = subprocess.run([sys.executable, "-c", SLEEPER], env=env, capture_output=True, text=True,
                         timeout=30)
    assert run.returncode != 0 and "Invalid argument" in run.stderr


@pytest.mark.timeout(120)
def test_clock_skew_restarts_the_worker_with_a_shifted_wall_clock_and_back(tmp_path: Path) -> None:
    """The local backend's clock_skew on real processes: the restarted worker's own heartbeat time
    runs 90 s behind Redis's clock, and after the undo it is back in step."""
    from harness.backends.base import SystemSpec
    from harness.backends.local import LocalBackend
    from harness.ledger import Ledger
    from system.keys import Keys

    ledger = Ledger.create(tmp_path, "skew")
    backend = LocalBackend(ledger=ledger)
    try:
        backend.start(SystemSpec(workers=1, replica=False, config={"HEARTBEAT_INTERVAL_MS": "300",
                                                                   "SHUTDOWN_GRACE_S": "2"}))
        client = redis.Redis.from_url(backend.endpoints().redis_url, decode_responses=True)

        def lag() -> float:
            beat = float(client.hget(Keys().worker("worker-1"), "last_heartbeat") or 0)
            secs, micros = client.time()
            return secs + micros / 1e6 - beat
        effect = apply(backend, "clock_skew", {"offset": -90.0}, ["worker-1"], 5.0)
        assert effect.detail == {"offset_s": -90.0}
        wait_until(lambda: 88 < lag() < 92, timeout=10, message="a heartbeat 90 s behind")
        assert effect.undo is not None
        effect.undo()
        wait_until(lambda: abs(lag()) < 2, timeout=10, message="a heartbeat in step again")
        client.close()
    finally:
        assert backend.teardown() == []
        backend.remove_workdir()
        ledger.close()


def test_replica_pause_freezes_the_replica_so_wait_gets_no_ack_until_undone(tmp_path: Path) -> None:
    """The local backend's replica_pause on a real primary + replica: while frozen, WAIT after a
    write counts no replica (what makes DURABLE_ACK answer 503); after the undo it counts one."""
    from harness.backends.base import SystemSpec
    from harness.backends.local import LocalBackend
    from harness.ledger import Ledger

    ledger = Ledger.create(tmp_path, "replica-pause")
    backend = LocalBackend(ledger=ledger)
    try:
        backend.start(SystemSpec(workers=1, replica=True, config={"SHUTDOWN_GRACE_S": "2"}))
        with redis.Redis.from_url(backend.endpoints().redis_url) as client:
            def acked_write() -> int:
                pipe = client.pipeline(transaction=False)
                pipe.set("replica-pause-probe", time.time())
                pipe.wait(1, 200)
                return int(pipe.execute()[1])
            assert acked_write() == 1
            effect = apply(backend, "replica_pause", {}, [], 3.0)
            assert effect.detail == {"replica": "redis-replica"} and effect.undo is not None
            assert acked_write() == 0
            effect.undo()
            wait_until(lambda: acked_write() == 1, timeout=10, message="the thawed replica to ack")
    finally:
        assert backend.teardown() == []
        backend.remove_workdir()
        ledger.close()


def test_the_nemesis_applies_and_undoes_a_redis_fault_with_records_and_ledger(server: RedisServer, r: redis.Redis,
                                                                               tmp_path: Path) -> None:
    """Through the one Nemesis: the start record carries what was done, the end record the undo's
    figures, the ledger marks it healed, and Redis is as before."""
    from harness.faults import Nemesis
    from harness.history import FaultRecord
    from harness.ledger import Ledger, outstanding, read_records
    from harness.schedule import FaultEvent

    ledger = Ledger.create(tmp_path, "n")
    records: list[FaultRecord] = []
    nemesis = Nemesis(DirectBackend(server.url), ledger=ledger, record=records.append,
                      clock=time.monotonic, leader=lambda: None)
    start = FaultEvent(0.0, "start", "redis_oom", "redis", "f1", {"headroom_kb": 8}, 0, 3.0)
    nemesis.apply(start)
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        for i in range(10_000):
            r.set(f"fill:{i}", "y" * 200)
    nemesis.apply(FaultEvent(3.0, "end", "redis_oom", "redis", "f1", {"headroom_kb": 8}, 0))
    ledger.close()
    assert [x.phase for x in records] == ["start", "end"] and nemesis.errors == []
    assert records[0].detail["maxmemory"] > 0 and "used_memory_at_end" in records[1].detail
    assert not outstanding(iter(read_records(ledger.path))).faults
    assert r.config_get("maxmemory")["maxmemory"] == "0"
    r.set("after", 1)
