"""The load generator against a real gateway: its history for a small bounded run, and info
outcomes when the gateway dies in the middle of one."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from benchmarks.loadgen import planned
from harness.history import SubmitRecord
from harness.load import TRANSPORTS, LoadGenerator
from harness.loadshape import PlannedSubmit
from system.broker import Broker
from tests.support.servers import Process, free_port, wait_for_gateway, wait_until


def generate(url: str, plan: list[PlannedSubmit], run_id: str,
             **kw: object) -> tuple[LoadGenerator, list[SubmitRecord]]:
    records: list[SubmitRecord] = []
    gen = LoadGenerator(plan, gateway_url=url, run_id=run_id, record=records.append, clock=time.monotonic,
                        **kw)
    gen.start(time.monotonic())
    return gen, records


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_a_bounded_run_records_every_submit_with_its_key_outcome_and_lag(
        transport: str, gateway_url: str, broker: Broker) -> None:
    plan = [planned(i / 100, i, priority=("high", "normal", "low")[i % 3]) for i in range(60)]
    gen, records = generate(gateway_url, plan, "run-a", clients=8, transport=transport)
    assert gen.join(timeout=20) and not gen.errors
    assert len(records) == 60 and {r.outcome for r in records} == {"ok"}
    assert sorted(r.key for r in records) == sorted(f"run-a-{i}" for i in range(60))
    assert all(r.t_done >= r.t and r.id for r in records)
    by_key = {r.key: r for r in records}
    assert by_key["run-a-1"].priority == "normal" and by_key["run-a-2"].type == "echo"
    c = gen.counters
    assert (c.submitted, c.ok, c.fail, c.info) == (60, 60, 0, 0)
    assert sum(c.lag_counts) == 60 and 0 <= c.lag_p99 <= c.lag_max
    # the tasks exist with those keys: sending the plan again creates nothing new
    again, second = generate(gateway_url, plan[:10], "run-a", clients=2, transport=transport)
    assert again.join(timeout=20)
    assert {r.key: r.id for r in second} == {k: by_key[k].id for k in (r.key for r in second)}
    assert broker.stats()["submitted"] == 60
    # batches: one request per 5, each task with its own key and outcome
    batched, records_b = generate(gateway_url, [planned(0.0, i) for i in range(12)], "run-b", batch=5,
                                  transport=transport)
    assert batched.join(timeout=20) and {r.outcome for r in records_b} == {"ok"}
    assert len({r.id for r in records_b}) == 12 and broker.stats()["submitted"] == 72


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_submits_after_the_gateway_dies_are_info_not_fail(transport: str, spawn: Callable[..., Process]) -> None:
    port = free_port()
    gateway = spawn("system.gateway", name="gateway", gateway_port=port, gateway_host="127.0.0.1",
                    gateway_workers=1)
    url = wait_for_gateway(f"http://127.0.0.1:{port}")
    plan = [planned(i / 50, i) for i in range(150)]  # 3 s
    gen, records = generate(url, plan, "run-c", clients=4, timeout=1.0, transport=transport)
    wait_until(lambda: gen.counters.ok >= 20, timeout=10, message="20 accepted submits")
    os.killpg(gateway.pid, signal.SIGKILL)  # the gateway and its gunicorn workers, mid-run
    assert gen.join(timeout=20) and not gen.errors
    outcomes = [r.outcome for r in sorted(records, key=lambda r: r.t)]
    assert len(outcomes) == 150 and "fail" not in outcomes
    assert outcomes[:20] == ["ok"] * 20 and outcomes[-1] == "info"
    assert all(r.error and r.id is None for r in records if r.outcome == "info")


def test_a_realtime_load_thread_runs_under_sched_rr_or_says_why_not(gateway_url: str, broker: Broker) -> None:
    seen: list[int] = []
    records: list[SubmitRecord] = []

    def record(r: SubmitRecord) -> None:  # runs on the load thread: its policy is the one to see
        seen.append(os.sched_getscheduler(threading.get_native_id()))
        records.append(r)
    gen = LoadGenerator([planned(i / 100, i) for i in range(10)], gateway_url=gateway_url, run_id="run-rt",
                        record=record, clock=time.monotonic, realtime=True)
    gen.start(time.monotonic())
    assert gen.join(timeout=20) and not gen.errors
    assert [r.outcome for r in records] == ["ok"] * 10
    if os.geteuid() == 0:
        assert gen.scheduling == "realtime" and set(seen) == {os.SCHED_RR}
    else:
        assert gen.scheduling.startswith("normal (realtime refused") and set(seen) == {os.SCHED_OTHER}
