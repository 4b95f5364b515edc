"""Faults by hand become the timeline's FaultEvents through the loader and build_schedule:
same errors as a scenario file, heal/scale/`for` as on a timeline, targets checked against
the workers running now."""

from __future__ import annotations

import pytest

from harness.backends import capabilities_of
from harness.loader import ScenarioError, parse_scenario
from harness.manual import ManualTimeline, fault_entry, parse_params
from harness.session import session_scenario

RUNNING = ["worker-1", "worker-2", "worker-3"]


def timeline(capabilities: frozenset[str] | None = None) -> ManualTimeline:
    return ManualTimeline(session_scenario(None, 3), seed=1, workers=RUNNING,
                          capabilities=capabilities_of("local") if capabilities is None else capabilities)


def errors(t: ManualTimeline, entry: dict, at: float = 1.0, running: list[str] = RUNNING) -> list[str]:
    with pytest.raises(ScenarioError) as caught:
        t.add(entry, at, running=running)
    return caught.value.errors


def test_command_lines_become_timeline_entries() -> None:
    assert fault_entry("kill", "worker-2", None, {}) == {"fault": "kill", "target": "worker-2"}
    assert fault_entry("scale", "5", None, {}) == {"fault": "scale", "workers": 5}
    assert fault_entry("partition", "worker-1", "10s", parse_params(["direction=upstream"])) == \
        {"fault": "partition", "target": "worker-1", "for": "10s", "direction": "upstream"}
    assert parse_params(["latency_ms=200", "toxicity=0.5"]) == {"latency_ms": 200, "toxicity": 0.5}
    assert parse_params(["signal=[", "direction="]) == {"signal": "[", "direction": ""}
    with pytest.raises(ScenarioError, match="write key=value"):
        parse_params(["latency_ms"])


def test_a_kill_is_one_start_event_marked_idle_ok() -> None:
    t = timeline()
    [event] = t.add(fault_entry("kill", "worker-2", None, {}), 1.5, running=RUNNING)
    assert (event.phase, event.fault, event.target, event.id, event.t, event.idle_ok) == \
        ("start", "kill", "worker-2", "m1", 1.5, True)
    assert "worker-2 is not running; running workers: worker-1, worker-3" in \
        errors(t, fault_entry("kill", "worker-2", None, {}), running=["worker-1", "worker-3"])[0]


def test_a_heal_ends_an_open_partition_now() -> None:
    t = timeline()
    start, end = t.add(fault_entry("partition", "worker-1", "10s", {}), 2.0, running=RUNNING)
    assert (start.phase, end.phase, end.t, start.id == end.id) == ("start", "end", 12.0, True)
    [healed] = t.add(fault_entry("heal", None, None, {}), 5.0, running=RUNNING)
    assert (healed.phase, healed.id, healed.t) == ("end", start.id, 5.0)
    assert "no open network fault" in errors(t, fault_entry("heal", None, None, {}), 6.0)[0]


def test_scale_names_new_workers_as_the_backends_do() -> None:
    [event] = timeline().add(fault_entry("scale", "5", None, {}), 1.0, running=RUNNING)
    assert event.params["add"] == ["worker-4", "worker-5"] and event.params["workers"] == 5


def test_bad_faults_get_the_loaders_errors() -> None:
    t = timeline()
    assert "'explode' is not valid" in errors(t, {"fault": "explode", "target": "worker-1"})[0]
    manual = errors(t, fault_entry("partition", "worker-1", "10", {}))
    loader = ScenarioError([])
    try:
        parse_scenario({"timeline": [{"at": "1s", "fault": "partition", "target": "worker-1", "for": "10"}]},
                       source="file.yaml")
    except ScenarioError as exc:
        loader = exc
    assert manual == [e.replace("file.yaml: timeline[0].", "harness fault: ") for e in loader.errors]
    assert "at: a fault by hand starts now" in errors(t, {"fault": "kill", "target": "worker-1", "at": "5s"})[0]
    assert "cannot do 'partition'" in errors(timeline(frozenset({"kill"})), fault_entry("partition", "worker-1",
                                                                                         None, {}))[0]
    assert t.entries == [], "a refused fault leaves the session's timeline as it was"
