"""Regression against a baseline run (pure, apart from load_baseline): key figures of this
run's results.json against a baseline's, each a check shaped like every other check.

A figure regresses when it is worse by more than `threshold` (0.20 = 20 %) relative to the
baseline AND by more than a small absolute slack, so 40 ms -> 50 ms of p99 or 0.2 s -> 0.3 s of
recovery (noise on a 2-core machine) does not fail CI.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .keyfigs import fmt, key_figures

DEFAULT_THRESHOLD = 0.20


@dataclass(frozen=True)
class Metric:
    key: str
    check: str
    higher_is_better: bool
    slack: float  # absolute difference that is never a regression


METRICS = (
    Metric("throughput", "baseline_throughput", True, 0.5),
    Metric("p99_latency_ms", "baseline_p99_latency_ms", False, 50.0),
    Metric("recovery_time_s", "baseline_recovery_time_s", False, 1.0),
)


def baseline_checks(results: dict[str, Any], baseline: dict[str, Any], *,
                    threshold: float = DEFAULT_THRESHOLD) -> list[dict[str, Any]]:
    """One check dict {name, passed, observed, expected, explanation} per key figure."""
    if not 0 <= threshold < 10:
        raise ValueError(f"baseline threshold {threshold!r} is out of range; give a fraction such as 0.2 for 20 %")
    now, base = key_figures(results), key_figures(baseline)
    return [_compare(m, now.get(m.key), base.get(m.key), threshold) for m in METRICS]


def _compare(m: Metric, observed: float | None, base: float | None, threshold: float) -> dict[str, Any]:
    pct = f"{threshold * 100:g} %"
    if observed is None or base is None:
        side = "this run" if observed is None else "the baseline"
        return {"name": m.check, "passed": True, "observed": observed, "expected": base,
                "explanation": f"skipped: {side} has no {m.key}"}
    if m.higher_is_better:
        limit = min(base * (1 - threshold), base - m.slack)
        passed, word = observed >= limit, "at least"
    else:
        limit = max(base * (1 + threshold), base + m.slack)
        passed, word = observed <= limit, "at most"
    change = (observed - base) / base * 100 if base else 0.0
    verdict = "within" if passed else "regressed beyond"
    return {"name": m.check, "passed": passed, "observed": round(observed, 3),
            "expected": {"baseline": round(base, 3), word.replace(" ", "_"): round(limit, 3)},
            "explanation": (f"{m.key} {fmt(m.key, observed)} vs baseline {fmt(m.key, base)} ({change:+.0f} %): "
                            f"{verdict} the {pct} threshold ({word} {fmt(m.key, limit)})")}


def load_baseline(path: Path) -> dict[str, Any]:
    """`--baseline FILE_OR_DIR`: a results.json, or a run directory holding one."""
    path = Path(path)
    file = path / "results.json" if path.is_dir() else path
    if not file.is_file():
        raise ValueError(f"baseline {path}: no results.json found; pass a run directory "
                         "(reports/<scenario>/<timestamp>/) or its results.json")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"baseline {file}: invalid JSON at line {e.lineno} ({e.msg})") from e
    if not isinstance(data, dict) or "checks" not in data:
        raise ValueError(f"baseline {file}: not a results.json (expected an object with 'checks')")
    return data
