"""The benchmark's smoke mode runs end to end against real processes (speed is not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_quick_benchmark_measures_every_scenario(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--only", "taskq-client",
                           "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=220)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    errors = [r["error"] for r in result["records"] if r["error"]]
    assert errors == []
    metrics = {r["scenario"]: r["metrics"] for r in result["records"]}
    assert set(metrics) == {"drain", "latency", "crash", "priority"}
    assert metrics["drain"]["drain_per_s"] > 0
    assert metrics["latency"]["n"] == 50  # 50/s for 1 s: every submitted task was seen finishing
    assert metrics["crash"]["default_lost"] == 0
    assert metrics["priority"]["high_wait_p50_ms"] >= 0
    assert result["ceiling"][0]["metrics"]["set_per_s"] > 0
    md = out.with_suffix(".md").read_text()
    assert "### drain" in md and "taskq-client" in md
