"""benchmarks.loadgen's summary: medians over rounds and the verdict against issue 16's targets."""

from __future__ import annotations

from benchmarks.loadgen import round_line, summarize


def row(wrk: float, flat: float, paced: float, lag: float, cpu: float, load: float) -> dict:
    run = {"rate": 0.0, "cpu_cores": cpu, "cpu_us_per_submit": 50.0, "fail": 0, "info": 0, "planned_rate": 0.8 * wrk,
           "lag_p50_ms": 0.5, "lag_p99_ms": lag, "lag_max_ms": lag, "connections_per_gateway_process": [9, 7]}
    return {"wrk": {"rate": wrk}, "load_average": load,
            "pool": {"max": {**run, "rate": flat * wrk}, "paced": {**run, "rate": paced * wrk, "scheduling": "normal"},
                     "paced_realtime": {**run, "rate": paced * wrk, "lag_p99_ms": lag / 10, "scheduling": "realtime"},
                     "ratio_max": flat, "ratio_paced": paced, "ratio_paced_realtime": paced}}


def test_medians_and_verdict() -> None:
    rounds = [row(2000, 0.9, 0.80, 3.0, 0.2, 2.0), row(2200, 0.7, 0.79, 40.0, 0.3, 3.0),
              row(2100, 0.95, 0.81, 4.0, 1.2, 9.0)]
    s = summarize(rounds, "pool")
    assert (s["ratio_max"], s["load_average"]) == (0.9, 3.0)
    assert (s["paced"]["ratio"], s["paced"]["lag_p99_ms"], s["paced_realtime"]["lag_p99_ms"]) == (0.80, 4.0, 0.4)
    assert s["paced"]["cpu_cores"] == 1.2  # the worst round, not the median: the target is a bound
    assert s["paced"]["verdict"] == {"sustained >= 0.8 x wrk": True, "lag p99 <= 5 ms": True,
                                     "CPU <= 1 core": False, "fail": 0}
    assert summarize(rounds, "aiohttp") == {}
    line = round_line(0, rounds[0])
    assert "pool: flat out 1800/s = 0.90 x" in line and "paced realtime at 1600/s" in line and "aiohttp" not in line
