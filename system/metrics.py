"""Prometheus exposition built from counters kept in Redis.

Counters live in Redis (updated inside the same Lua scripts that change task state), so
every gunicorn process and every worker node reports one consistent set of numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from system.broker import Broker

LATENCY_BUCKETS_MS: tuple[int, ...] = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)


HELP = {"worker_lost": "Workers the leader removed as lost (connections closed or registration expired)"}


class QueueCollector(Collector):
    """Reads counters, depths, workers and the latency histogram from Redis at scrape time."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    def collect(self) -> Iterator:
        stats = self.broker.stats()
        for name, value in stats.items():
            help_text = HELP.get(name, f"Tasks {name.replace('_', ' ')} (all nodes)")
            family = CounterMetricFamily(f"taskqueue_{name}", help_text)
            family.add_metric([], value)
            yield family
        depth = GaugeMetricFamily("taskqueue_queue_depth", "Tasks per queue state", labels=["queue"])
        for queue, count in self.broker.queue_depths().items():
            depth.add_metric([queue], count)
        yield depth
        workers, _ = self.broker.workers()
        live = GaugeMetricFamily("taskqueue_workers", "Live worker nodes")
        live.add_metric([], len(workers))
        yield live
        buckets, total_ms = self.broker.latency_histogram()
        cumulative, running = [], 0
        for bound, count in buckets.items():
            running += count
            cumulative.append(("+Inf" if bound == "inf" else str(int(bound) / 1000), running))
        hist = HistogramMetricFamily("taskqueue_latency_seconds", "Submit to finish latency of succeeded tasks")
        hist.add_metric([], cumulative, sum_value=total_ms / 1000)
        yield hist


def render(broker: Broker) -> bytes:
    from prometheus_client import generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(broker))
    return generate_latest(registry)
