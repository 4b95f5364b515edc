"""Time base, rates, percentiles and fault spans of the report (pure)."""
from __future__ import annotations

import pytest
from report_helpers import EPOCH0, hand_run, task

from harness.report.series import Timebase, binned_percentiles, clock_offset, fault_spans, phase_marks, rate, timebase


def test_clock_offset_comes_from_matched_submits_not_the_wall_clock() -> None:
    skew = 0.75  # Redis clock ahead of the harness clock
    tasks = [task(f"t{i}", (i + skew, "submitted", {}), submitted=i + skew) for i in range(5)]
    history = [{"kind": "submit", "t": i - 0.01, "t_done": i + 0.01, "id": f"t{i}", "outcome": "ok"} for i in range(5)]
    run = hand_run(history=history, tasks=tasks)
    assert clock_offset(run) == pytest.approx(EPOCH0 + skew)


def test_clock_offset_falls_back_to_meta_start() -> None:
    run = hand_run(tasks=[task("x", (3.0, "submitted", {}))])
    object.__setattr__(run, "meta", {"started_at": EPOCH0 - 2})
    assert clock_offset(run) == EPOCH0 - 2


def test_rate_counts_per_second_in_each_bin() -> None:
    tb = Timebase(offset=0.0, t1=4.0, bin_s=2.0)
    assert rate([0.1, 0.2, 1.9, 2.5, 9.0, -1.0], tb) == [1.5, 0.5]



def test_binned_percentiles_leave_empty_bins_empty() -> None:
    tb = Timebase(offset=0.0, t1=3.0, bin_s=1.0)
    out = binned_percentiles([(0.5, 10.0), (0.6, 30.0), (2.2, 5.0)], tb, (50,))
    assert out[50] == [20.0, None, 5.0]


def test_fault_spans_pair_by_id_and_keep_unhealed_faults_open() -> None:
    history = [
        {"kind": "fault", "t": 5.0, "phase": "start", "fault": "kill", "target": "worker-2", "id": "f1"},
        {"kind": "fault", "t": 6.0, "phase": "start", "fault": "partition", "target": "worker-1", "id": "f2"},
        {"kind": "fault", "t": 9.0, "phase": "end", "fault": "kill", "target": "worker-2", "id": "f1"},
        {"kind": "fault", "t": 12.0, "phase": "end", "fault": "latency", "target": "gateway", "id": "f9"},
    ]
    spans = {s.id: s for s in fault_spans(hand_run(history=history))}
    assert (spans["f1"].start, spans["f1"].end) == (5.0, 9.0)
    assert spans["f2"].end is None and spans["f2"].end_or(30.0) == 30.0
    assert spans["f9"].start == spans["f9"].end == 12.0  # end without a start: instantaneous
    assert spans["f1"].label == "kill worker-2"


def test_phase_marks_merge_phases_at_the_same_time() -> None:
    history = [{"kind": "phase", "t": 1.0, "phase": "load"}, {"kind": "phase", "t": 20.0, "phase": "heal"},
               {"kind": "phase", "t": 20.02, "phase": "drain"}, {"kind": "phase", "t": 0.0, "phase": "up"}]
    assert phase_marks(hand_run(history=history)) == [(1.0, "load"), (20.0, "heal/drain")]


def test_timebase_keeps_bins_bounded_for_long_runs() -> None:
    history = [{"kind": "sample", "t": float(t)} for t in range(0, 3600, 10)]
    tb = timebase(hand_run(history=history))
    assert tb.n_bins <= 400 and tb.t1 == pytest.approx(3590.0)


def test_one_shot_faults_without_an_end_are_instantaneous() -> None:
    history = [{"kind": "fault", "t": 4.0, "phase": "start", "fault": "flood", "target": "", "id": "f1"},
               {"kind": "fault", "t": 6.0, "phase": "start", "fault": "latency", "target": "worker-1", "id": "f2"}]
    spans = {s.id: s for s in fault_spans(hand_run(history=history))}
    assert spans["f1"].end == 4.0 and spans["f2"].end is None


def test_fault_spans_start_at_the_effective_time_and_carry_lateness():
    from harness.report.faultsummary import fault_impacts
    from harness.report.sections import faults_html
    run = hand_run(history=[
        {"kind": "fault", "t": 6.0, "phase": "start", "fault": "redis_failover", "target": "redis", "id": "f1",
         "detail": {}, "requested": 6.0, "effective": 21.0, "late": True},
        {"kind": "fault", "t": 8.0, "phase": "start", "fault": "kill", "target": "worker-1", "id": "f2",
         "detail": {}},                                           # an older run: no timing fields
    ])
    spans = {s.id: s for s in fault_spans(run, t1=30.0)}
    assert spans["f1"].start == 21.0 and spans["f1"].late and spans["f2"].start == 8.0 and not spans["f2"].late
    html = faults_html(fault_impacts([spans["f1"]], [], [], offset=0.0, load=(0.0, 30.0), t1=30.0))
    assert "LATE: asked for 6.0s, took effect 15.0s after" in html


def test_latencies_are_packed_and_sorted_like_the_tuples_they_replace() -> None:
    import random

    from harness.report.faultsummary import _between
    from harness.report.series import Latencies

    rng = random.Random(4)
    points = [(float(rng.randrange(50)), float(rng.randrange(5)), rng.choice(["high", "normal", "low"]))
              for _ in range(500)]  # many ties in time: a batch shares its submitted_at
    lat = Latencies(points)
    expected = sorted(points)
    assert [(t, ms) for t, ms, _ in lat] == [(t, ms) for t, ms, _ in expected]
    assert len(lat) == 500 and lat[3][:2] == expected[3][:2] and lat[-1][:2] == expected[-1][:2]
    assert [p[:2] for p in lat[::100]] == [p[:2] for p in expected[::100]]
    assert lat.priorities() == {"high", "normal", "low"}
    assert sorted(_between(lat, 10.0, 20.0)) == sorted(ms for t, ms, _ in points if 10.0 <= t < 20.0)
    assert Latencies([]).priorities() == set() and list(Latencies([])) == []
