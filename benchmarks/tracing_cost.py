"""Tracing's cost on a drain: `python -m benchmarks.drain_cpu --n 10000` with tracing off, on
(every task traced) and on with 10 % sampling, interleaved, against a real Jaeger as collector.

`python -m benchmarks.tracing_cost` (env ROUNDS, default 3; JAEGER_BIN, default `jaeger` on PATH).
Figures and how to read them: docs/tracing.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.jaeger import JaegerServer, jaeger_binary

ROOT = Path(__file__).resolve().parent.parent
MODES = {"off": {}, "on": {},
         "on, 10 % sampled": {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}}


def main() -> None:
    binary = jaeger_binary()
    if binary is None:
        sys.exit("the jaeger binary is missing: scripts/install.sh builds it (or set JAEGER_BIN)")
    jaeger = JaegerServer(binary)
    try:
        for round_ in range(int(os.environ.get("ROUNDS", "3"))):
            for mode, extra in MODES.items():
                env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
                if mode != "off":
                    env.update(OTEL_EXPORTER_OTLP_ENDPOINT=jaeger.otlp_endpoint, **extra)
                out = subprocess.run([sys.executable, "-m", "benchmarks.drain_cpu", "--n", "10000"], cwd=ROOT,
                                     env=env, capture_output=True, text=True, check=True).stdout
                print(f"round {round_}, tracing {mode}:\n{out}", flush=True)
    finally:
        jaeger.stop()


if __name__ == "__main__":
    main()
