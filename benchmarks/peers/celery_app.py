"""Celery app for the benchmark (run inside the peers' virtualenv).

Settings, by BENCH_PROFILE:
  every profile  Redis broker, task_acks_late=True, task_reject_on_worker_lost=True,
                 task_ignore_result=True (no result backend), prefetch multiplier 4 (default)
  short          + broker_transport_options visibility_timeout=5 s, unacked_restore_interval=1 s,
                 unacked_restore_throttle=1 (restore sweep every second; default: 3600 s / 10 s / 10)
  priority       + priority_steps 0..9, queue_order_strategy=priority, worker_prefetch_multiplier=1
                 (Celery's documented Redis priority emulation; 0 is consumed first)
"""

from __future__ import annotations

import os

from celery import Celery

from benchmarks.peers import body

PROFILE = os.environ.get("BENCH_PROFILE", "default")
app = Celery("bench", broker=os.environ["BENCH_REDIS_URL"])
app.conf.update(
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
if PROFILE == "short":
    app.conf.broker_transport_options = {
        "visibility_timeout": 5, "unacked_restore_interval": 1, "unacked_restore_throttle": 1}
elif PROFILE == "priority":
    app.conf.broker_transport_options = {
        "priority_steps": list(range(10)), "queue_order_strategy": "priority", "sep": ":"}
    app.conf.worker_prefetch_multiplier = 1


@app.task(name="bench.noop")
def noop() -> None:
    body.noop()


@app.task(name="bench.timed")
def timed(label: str, submit_ts: float, ms: float) -> None:
    body.timed(label, submit_ts, ms)


@app.task(name="bench.crash")
def crash(tid: str, ms: float) -> None:
    body.crash(tid, ms)
