"""Pure parts of the benchmark: statistics, ratios, report cells, CSV parsing, CLI checks."""

from __future__ import annotations

import math

import pytest

from benchmarks import ceiling, report, stats
from benchmarks.run import BEGIN, END, parse_args, write_markdown


def test_percentile_interpolates_and_rejects_bad_q() -> None:
    assert stats.percentile([1, 2, 3, 4], 50) == 2.5
    assert stats.percentile([5], 99) == 5
    assert math.isnan(stats.percentile([], 50))
    with pytest.raises(ValueError, match="from 0 to 100"):
        stats.percentile([1], 101)


def test_spread_keeps_nan_out_and_none_when_empty() -> None:
    s = stats.spread([3.0, math.nan, 1.0, 2.0])
    assert (s.median, s.low, s.high, s.n) == (2.0, 1.0, 3.0, 3)
    assert stats.spread([math.nan, None]) is None


def test_pairwise_ratios_only_pair_the_same_run() -> None:
    ours = {0: 10.0, 1: 20.0, 2: 30.0}
    theirs = {0: 5.0, 2: 10.0, 3: 1.0}
    s = stats.pairwise_ratios(ours, theirs)
    assert s is not None and (s.low, s.high, s.n) == (2.0, 3.0, 2)


def test_parse_lat_records() -> None:
    rows = stats.parse_lat_records([b"lat 1.5 1.6 1.75", "high 2 2.5 3"])
    assert rows == [("lat", 1.5, 1.6, 1.75), ("high", 2.0, 2.5, 3.0)]


def test_summary_and_cells_show_median_spread_and_never() -> None:
    records = [{"run": i, "system": "a", "scenario": "crash", "metrics": {"default_recovery_s": v}}
               for i, v in enumerate([4.0, 6.0, 5.0])]
    records += [{"run": i, "system": "b", "scenario": "crash", "metrics": {"default_recovery_s": math.nan}}
                for i in range(2)]
    summary = report.summarise(records)
    assert report.cell(summary["a"]["crash"]["default_recovery_s"], "{:.1f}") == "5.0 (4.0–6.0)"
    assert report.cell(summary["b"]["crash"]["default_recovery_s"], "{:.1f}") == "never (cap)"


def test_ratios_ours_over_peer() -> None:
    records = [{"run": 0, "system": s, "scenario": "drain", "metrics": {"drain_per_s": v}}
               for s, v in (("ours", 8000.0), ("peer", 2000.0))]
    table = report.ratios(records, ["ours"], ["peer"])
    assert table["ours"]["peer"]["drain.drain_per_s"]["median"] == 4.0


def test_ceiling_csv_parse() -> None:
    text = '"test","rps","avg_latency_ms"\n"SET","125000.00","0.2"\n"LPOP","99000.5","0.3"\n'
    assert ceiling.parse_csv(text) == {"SET": 125000.0, "LPOP": 99000.5}


def test_write_markdown_replaces_only_the_marked_section(tmp_path) -> None:
    path = tmp_path / "b.md"
    path.write_text("# Title\nprose before\n")
    write_markdown(path, "table v1\n")
    write_markdown(path, "table v2\n")
    text = path.read_text()
    assert text.startswith("# Title\nprose before\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "table v2" in text and "table v1" not in text


def test_cli_names_unknown_systems() -> None:
    with pytest.raises(SystemExit, match="unknown nosuch; choose from"):
        parse_args(["--only", "nosuch"])
    args = parse_args(["--quick"])
    assert args.runs == 1 and args.systems == ["taskq-client", "taskq-http"]
    assert args.out == "reports/benchmarks/quick.json" and args.md == "reports/benchmarks/quick.md"
    assert parse_args([]).md == "docs/benchmarks.md"


def test_merge_replaces_only_what_was_measured_again() -> None:
    from benchmarks.run import finish, merge
    meta = {"command": "a", "systems": ["taskq-client", "celery"], "runs": 1, "settings": {}}
    old = finish(meta, [{"run": 0, "system": s, "scenario": sc, "metrics": {"x": 1.0}}
                        for s in ("taskq-client", "celery") for sc in ("drain", "priority")], [])
    new = finish({**meta, "command": "b", "systems": ["celery"]},
                 [{"run": 0, "system": "celery", "scenario": "priority", "metrics": {"x": 2.0}}], [])
    merged = merge(old, new)
    assert len(merged["records"]) == 4
    assert merged["summary"]["celery"]["priority"]["x"]["median"] == 2.0
    assert merged["summary"]["celery"]["drain"]["x"]["median"] == 1.0
    assert merged["meta"]["command"] == "a; then b"


def test_never_survives_the_trip_through_json() -> None:
    entry = {"median": None, "runs": 0, "values": [None, None]}
    assert report.cell(entry, "{:.1f}") == "never (cap)"


def test_dashboard_cost_order_is_balanced_and_its_summary_pairs_rounds() -> None:
    from collections import Counter

    from benchmarks.dashboard_cost import MODES, Drain, mode_order, summarize
    assert mode_order(0) == ("closed", "stream", "browser") and mode_order(1) == ("browser", "stream", "closed")
    seats = Counter((pos, mode) for r in range(6) for pos, mode in enumerate(mode_order(r)))
    assert set(seats.values()) == {2} and len(seats) == 9, "every mode in every position twice"

    def drain(mode: str, rate: float, gw: float, browser: float = 0.0) -> Drain:
        return Drain(mode=mode, rate=rate, window_s=2.0, workers_cpu=1.5, redis_cpu=0.5,
                     gateway_cpu=gw, browser_cpu=browser)
    rounds = [{"closed": drain("closed", 1000, 0.0), "stream": drain("stream", 990, 0.02),
               "browser": drain("browser", 950, 0.02, 0.08)},
              {"closed": drain("closed", 500, 0.0), "stream": drain("stream", 510, 0.02),
               "browser": drain("browser", 480, 0.02, 0.08)}]
    s = summarize(rounds, n=2000, cpus=2)
    assert s["closed"]["drain_cpu_us_per_task"]["median"] == pytest.approx(1000)  # 2 CPU-s / 2000
    assert s["stream"]["rate_ratio"]["min"] == pytest.approx(0.99) and s["stream"]["rate_ratio"]["max"] == 1.02
    assert s["browser"]["dashboard_cpu_per_s"]["median"] == pytest.approx(0.05)     # (0.02 + 0.08) / 2 s
    assert s["browser"]["cpu_share"]["median"] == pytest.approx(0.05)               # of 1 CPU-s/s
    assert s["browser"]["machine_share"]["median"] == pytest.approx(0.025)          # of 2 CPUs
    assert set(s) == set(MODES)
