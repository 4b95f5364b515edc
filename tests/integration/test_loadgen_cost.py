"""benchmarks.loadgen_cost end to end: its stub answers the real generator, every submit ok
(speed is not asserted)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_generator_cost_benchmark_runs_against_its_stub() -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.loadgen_cost", "--runs", "1", "--n", "300"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"[\d.]+ us/submit \(\d+/s at [\d.]+ core, 300 ok\)", proc.stdout), proc.stdout


def test_a_tree_without_the_generator_is_refused_naming_it(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.loadgen_cost", "--trees", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and str(tmp_path) in proc.stderr and "no harness/load.py" in proc.stderr
