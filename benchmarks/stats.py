"""Pure statistics over measured figures: percentiles, median with spread, pairwise ratios."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from harness.stats import percentile as _percentile


def percentile(values: Iterable[float], q: float) -> float:
    """harness.stats.percentile (one definition), with NaN for no values as JSON-free tables want."""
    value = _percentile(values, q)
    return math.nan if value is None else value


@dataclass(frozen=True)
class Spread:
    """Median of the runs with the smallest and largest run."""

    median: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict:
        return {"median": self.median, "min": self.low, "max": self.high, "runs": self.n}


def spread(values: Iterable[float | None]) -> Spread | None:
    """None when no run produced the figure; NaNs (e.g. 'never recovered') are kept out."""
    data = [v for v in values if v is not None and not math.isnan(v)]
    if not data:
        return None
    return Spread(statistics.median(data), min(data), max(data), len(data))


def pairwise_ratios(ours: Mapping[int, float | None], theirs: Mapping[int, float | None]
                    ) -> Spread | None:
    """ours[run] / theirs[run] over the runs both have, summarised as a Spread."""
    ratios = []
    for run, mine in ours.items():
        other = theirs.get(run)
        if mine is None or other is None or math.isnan(mine) or math.isnan(other) or other == 0:
            continue
        ratios.append(mine / other)
    return spread(ratios)


def latency_summary(latencies_ms: list[float]) -> dict[str, float]:
    return {"n": len(latencies_ms), "p50_ms": percentile(latencies_ms, 50),
            "p95_ms": percentile(latencies_ms, 95), "p99_ms": percentile(latencies_ms, 99),
            "max_ms": max(latencies_ms) if latencies_ms else math.nan}


def parse_lat_records(records: Iterable[bytes | str]) -> list[tuple[str, float, float, float]]:
    """'label submit start finish' strings (benchmarks.peers.body.timed) -> tuples."""
    out = []
    for raw in records:
        text = raw.decode() if isinstance(raw, bytes) else raw
        label, submit, start, finish = text.split()
        out.append((label, float(submit), float(start), float(finish)))
    return out
