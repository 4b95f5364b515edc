"""Pure key figures of a run — throughput, latency percentiles, recovery time, counts — as shown
in the report header, the index and the compare page, and as compared with a baseline.

results.json's "summary" (written by the checker) is the source of truth; when a run has no
summary (older runs, interrupted runs) the figures are taken from the checks' observed values,
or computed from the recorded run.
"""
from __future__ import annotations

import bisect
from typing import Any

from harness.stats import percentile

from .faultsummary import fault_impacts
from .rundata import Run
from .series import clock_offset, completion_times, fault_spans, load_window, task_counts, task_latencies, timebase

KEYS = ("throughput", "p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "recovery_time_s",
        "submitted", "accepted", "succeeded", "dead", "stale_acks", "duration_s")
_ALIASES = {"throughput": ("throughput", "throughput_per_s", "completed_per_s"),
            "recovery_time_s": ("recovery_time_s", "recovery_s", "max_recovery_s", "recovery_time")}
_CHECK_SOURCES = {"throughput": "throughput_min", "p99_latency_ms": "p99_latency_ms",
                  "p95_latency_ms": "p95_latency_ms", "p50_latency_ms": "p50_latency_ms",
                  "recovery_time_s": "recovery_time_max"}


def _number(value: Any, *names: str) -> float | None:
    """A number, or the first named numeric field of a dict (checks may observe dicts)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, dict):
        for n in names + ("value", "observed", "max"):
            if isinstance(value.get(n), (int, float)) and not isinstance(value.get(n), bool):
                return float(value[n])
    return None


def key_figures(results: dict[str, Any] | None) -> dict[str, float | None]:
    """KEYS -> number or None, from results.json (summary first, then check observations)."""
    results = results or {}
    summary = results.get("summary") or {}
    out: dict[str, float | None] = {}
    for key in KEYS:
        value = next((summary[a] for a in _ALIASES.get(key, (key,)) if a in summary), None)
        out[key] = _number(value, key)
    checks = {c.get("name"): c for c in results.get("checks", ()) if isinstance(c, dict)}
    for key, check in _CHECK_SOURCES.items():
        if out.get(key) is None and check in checks:
            out[key] = _number(checks[check].get("observed"), key, "p99_ms", "throughput", "seconds")
    return out


def computed_figures(run: Run) -> dict[str, float | None]:
    """The same figures computed from the recorded run (for runs without a summary)."""
    tb = timebase(run)
    start, end = load_window(run, tb)
    done = completion_times(run, tb)
    in_load = bisect.bisect_left(done, end) - bisect.bisect_left(done, start) if end > start else 0
    lat = task_latencies(run, tb).ms
    impacts = fault_impacts(fault_spans(run, t1=tb.t1), done, run.tasks, offset=clock_offset(run),
                            load=(start, end), t1=tb.t1, latencies=task_latencies(run, tb))
    recoveries = [i.recovery_s for i in impacts if i.recovery_s is not None]
    status, events = task_counts(run)
    return {
        "throughput": round(in_load / (end - start), 3) if end > start else None,
        "p50_latency_ms": percentile(lat, 50), "p95_latency_ms": percentile(lat, 95),
        "p99_latency_ms": percentile(lat, 99),
        "recovery_time_s": max(recoveries) if recoveries else None,
        "submitted": float(len(run.records("submit"))),
        "accepted": float(sum(1 for s in run.records("submit") if s.get("outcome") == "ok")),
        "succeeded": float(status.get("succeeded", 0)),
        "dead": float(status.get("dead", 0)),
        "stale_acks": float(events.get("stale_ack", 0)),
        "duration_s": tb.t1,
    }


def merged_figures(run: Run) -> dict[str, float | None]:
    """results.json's figures where present, computed ones for the gaps."""
    recorded = key_figures(run.results)
    computed = computed_figures(run)
    return {k: recorded.get(k) if recorded.get(k) is not None else computed.get(k) for k in KEYS}


def fmt(key: str, value: float | None) -> str:
    """Human formatting of one key figure."""
    if value is None:
        return "—"
    if key.endswith("_ms"):
        return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:.0f} ms"
    if key.endswith("_s"):
        return f"{value:.1f} s"
    if key == "throughput":
        return f"{value:.1f}/s"
    return f"{value:,.0f}"


LABELS = {"throughput": "throughput", "p50_latency_ms": "p50 latency", "p95_latency_ms": "p95 latency",
          "p99_latency_ms": "p99 latency", "recovery_time_s": "max recovery", "submitted": "submitted",
          "accepted": "accepted", "succeeded": "succeeded", "dead": "dead", "stale_acks": "stale acks",
          "duration_s": "duration"}
