"""The scenario loader: strict validation that names file, path and fix, and collects all errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.dump import scenario_yaml
from harness.loader import ScenarioError, load_scenario, load_scenarios, parse_scenario, validate
from harness.scenario import TaskMix
from harness.units import DurationError, format_duration, parse_duration

BASE = {"name": "t", "system": {"workers": 3}, "load": {"rate": 10, "duration": "20s"}}


def errors_of(doc: dict) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc, source="f.yaml")
    return info.value.errors


def with_(**parts) -> dict:
    return {**BASE, **parts}


@pytest.mark.parametrize("text,seconds", [("10s", 10), ("500ms", 0.5), ("2m", 120), ("1.5s", 1.5), ("1h", 3600)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize(
    "bad,hint", [("10 s", "write '10s'"), (10, '"10s"'), ("10sec", "write '10s'"), ("ten", "like"), ("-1s", "like")]
)
def test_bad_durations_hint(bad, hint):
    with pytest.raises(DurationError, match=hint):
        parse_duration(bad)


def test_minimal_defaults():
    s = parse_scenario({"name": "x"})
    assert s.system.workers == 3 and s.load.tasks == (TaskMix("process", "Hello World"),)
    assert s.drain.timeout == 60 and s.seed is None and s.timeline == () and s.checks == ()


def test_design_example_loads():
    doc = yaml.safe_load("""
name: kill-worker-under-load
system: {workers: 3, config: {LEASE_TTL_MS: 2000, DURABLE_ACK: true}}
load: {rate: 50, duration: 40s, tasks: [{type: sleep, ms: 200}]}
timeline:
  - {at: 10s, fault: kill, target: worker-2, signal: KILL}
  - {at: 20s, fault: partition, target: worker-1, from: redis, for: 8s}
  - {at: 30s, fault: scale, workers: 5}
checks:
  - no_lost_tasks
  - {max_duplicates: 0.01}
  - {p99_latency_ms: 5000}
  - {throughput_after: scale, at_least: 1.4}
""")
    s = parse_scenario(doc)
    assert s.system.config == {"LEASE_TTL_MS": "2000", "DURABLE_ACK": "1"}
    kill, part, scale = s.timeline
    assert (kill.fault, kill.target, kill.timing.at, kill.params["signal"]) == ("kill", "worker-2", 10, "KILL")
    assert part.duration == 8 and part.params["direction"] == "both" and "from" not in part.params
    assert scale.params == {"workers": 5} and scale.target == ""
    assert [c.name for c in s.checks] == ["no_lost_tasks", "max_duplicates", "p99_latency_ms", "throughput_after"]
    assert dict(s.checks[3].params) == {"fault": "scale", "at_least": 1.4}
    assert s.checks[1].params["max"] == 0.01


def test_all_errors_collected_with_path_and_fix():
    errs = errors_of(
        with_(
            load={"rate": 10, "duration": "20 s", "tasks": [{"type": "slep", "ms": 1}]},
            timeline=[
                {"at": "5s", "fault": "kil", "target": "worker-1"},
                {"at": "6s", "fault": "pause", "target": "worker-7"},
                {"at": "7s", "fault": "latency", "target": "worker-1", "latncy_ms": 5},
            ],
            checks=["no_lost_taks", {"p99_latency_ms": "fast"}],
            extra=1,
        )
    )
    text = "\n".join(errs)
    assert all(e.startswith("f.yaml: ") for e in errs)
    for expected in [
        "extra: unknown key",
        "load.duration: '20 s' has a space; write '20s'",
        "load.tasks[0].type: 'slep' is not valid (did you mean 'sleep'?)",
        "timeline[0].fault: 'kil' is not valid (did you mean 'kill'?)",
        "timeline[1].target: worker-7 is not running at 6s; valid targets then: worker-1, worker-2, worker-3",
        "timeline[2].latncy_ms: unknown key (did you mean 'latency_ms'?)",
        "timeline[2].latency_ms: missing; latency needs latency_ms",
        "checks[0]: unknown check 'no_lost_taks' (did you mean 'no_lost_tasks'?)",
        "checks[1].max: expected a number",
    ]:
        assert expected in text, f"{expected!r} not in:\n{text}"


def test_worker_after_scale_is_valid_and_before_is_not():
    ok = with_(
        timeline=[{"at": "5s", "fault": "scale", "workers": 5}, {"at": "6s", "fault": "kill", "target": "worker-5"}]
    )
    assert parse_scenario(ok).timeline[1].target == "worker-5"
    bad = with_(
        timeline=[{"at": "6s", "fault": "kill", "target": "worker-5"}, {"at": "7s", "fault": "scale", "workers": 5}]
    )
    assert any("timeline[0].target: worker-5 is not running at 6s" in e for e in errors_of(bad))


def test_killed_worker_cannot_be_targeted_until_restarted():
    doc = with_(
        timeline=[
            {"at": "1s", "fault": "kill", "target": "worker-2"},
            {"at": "2s", "fault": "pause", "target": "worker-2", "for": "1s"},
        ]
    )
    assert any("worker-2 is not running at 2s" in e for e in errors_of(doc))
    doc["timeline"][0]["for"] = "500ms"
    assert parse_scenario(doc).timeline[1].target == "worker-2"


@pytest.mark.parametrize(
    "entry,message",
    [
        ({"at": "1s", "fault": "scale", "workers": 2, "target": "worker-1"}, "scale takes no target"),
        ({"at": "1s", "fault": "redis_failover", "target": "worker-1"}, "cannot target worker-1"),
        ({"at": "1s", "fault": "restart", "target": "worker-1", "for": "2s"}, "restart cannot have a duration"),
        ({"fault": "kill", "target": "worker-1"}, "missing a time"),
        (
            {"at": "1s", "random": {"count": 1, "within": "5s"}, "fault": "kill", "target": "worker-1"},
            "cannot be combined",
        ),
        ({"at": "1s", "fault": "heal", "target": "worker-1"}, "no open network fault on worker-1"),
        ({"at": "1s", "fault": "resume", "target": "worker-1"}, "no open pause"),
        (
            {"at": "1s", "fault": "latency", "target": "worker-1", "latency_ms": 5, "direction": "sideways"},
            "upstream, downstream, both",
        ),
        ({"at": "1s", "fault": "latency", "target": "worker-1", "latency_ms": 5, "toxicity": 2}, "from 0 to 1"),
        ({"at": "1s", "fault": "kill", "target": "worker-1", "signal": "BOOM"}, "KILL, TERM"),
        ({"at": "1s", "fault": "kill", "target": "worker-0"}, "not a target"),
        ({"at": "1s", "fault": "kill", "target": "lead"}, "did you mean 'leader'"),
        ({"at": "1s", "fault": "flood", "low": 10}, "needs high"),
    ],
)
def test_timeline_errors(entry, message):
    errs = errors_of(with_(timeline=[entry]))
    assert any(message in e and "timeline[0]" in e for e in errs), errs


def test_timing_forms():
    s = parse_scenario(
        with_(
            timeline=[
                {"every": "5s", "fault": "kill", "target": "random-worker", "for": "1s"},
                {"random": {"count": 2, "within": ["2s", "8s"]}, "fault": "pause", "target": "worker-1", "for": "1s"},
                {"at": "3s", "jitter": "1s", "fault": "restart", "target": "gateway"},
            ]
        )
    )
    every, rand, jit = (e.timing for e in s.timeline)
    assert (every.at, every.every, every.until) == (5, 5, None)
    assert (rand.count, rand.within) == (2, (2, 8))
    assert (jit.at, jit.jitter) == (3, 1)


def test_every_without_until_needs_a_load_duration():
    errs = errors_of(
        {
            "name": "x",
            "load": {"count": 5},
            "timeline": [{"every": "5s", "fault": "kill", "target": "worker-1", "for": "1s"}],
        }
    )
    assert any("timeline[0].until: every: needs until:" in e for e in errs)


@pytest.mark.parametrize(
    "config,message",
    [
        ({"lease_ttl_ms": 100}, "write LEASE_TTL_MS"),
        ({"LEASE_TTL_MSS": 100}, "did you mean 'LEASE_TTL_MS'"),
        ({"REDIS_URL": "redis://x"}, "set by the backend"),
        ({"LEASE_TTL_MS": "abc"}, "LEASE_TTL_MS='abc': expected a whole number"),
        ({"LEASE_TTL_MS": 1000, "HEARTBEAT_INTERVAL_MS": 900}, "at most half of LEASE_TTL_MS"),
    ],
)
def test_config_errors(config, message):
    errs = errors_of(with_(system={"workers": 2, "config": config}))
    assert any(message in e and "system.config" in e for e in errs), errs


@pytest.mark.parametrize(
    "load,message",
    [
        ({"rate": 5}, "a rate needs a duration"),
        ({"rate": 5, "count": 3, "duration": "1s"}, "not both"),
        ({"tasks": [{"type": "sleep", "ms": -5}]}, "bad sleep task: data.ms must be between"),
        ({"tasks": [{"type": "fail", "p": 3}]}, "bad fail task"),
        ({"tasks": [{"type": "process", "data": "x", "ms": 3}]}, "not both"),
        ({"tasks": []}, "empty"),
        ({"priorities": {"urgent": 1}}, "load.priorities.urgent: unknown key"),
        ({"priorities": {"high": 0}}, "add up to 0"),
        ({"batch": 0}, "load.batch: 0 is out of range"),
        ({"flood": {"at": "1s", "high": 5}}, "a flood needs low"),
    ],
)
def test_load_errors(load, message):
    errs = errors_of(with_(load=load))
    assert any(message in e for e in errs), errs


def test_task_mix_data_and_priorities_normalised():
    s = parse_scenario(
        with_(
            load={
                "count": 10,
                "tasks": [
                    {"type": "sleep", "ms": 5, "weight": 3},
                    {"type": "fail", "always": True, "max_retries": 0},
                    {"type": "cpu"},
                    {"type": "echo", "data": [1]},
                ],
                "priorities": {"high": 1, "normal": 3},
            }
        )
    )
    sleep, fail, cpu, echo = s.load.tasks
    assert (sleep.data, sleep.weight) == ({"ms": 5}, 3) and fail.max_retries == 0
    assert cpu.data == {} and echo.data == [1]
    assert (s.load.priorities.high, s.load.priorities.normal, s.load.priorities.low) == (0.25, 0.75, 0)


@pytest.mark.parametrize(
    "check,message",
    [
        ({"throughput_after": "scale"}, "not a fault of this scenario's timeline"),
        ({"max_duplicates": 1.5}, "neither a count"),
        ({"no_lost_tasks": 3}, "takes no value"),
        ({"p99_latency_ms": 10, "priority": "urgent"}, "use one of: high, normal, low"),
        ({"p99_latency_ms": 10, "priorty": "high"}, "did you mean 'priority'"),
        ({"all_done_within": "30"}, "write e.g."),
        ({"no_lost_tasks": None, "conservation": None}, "exactly one check"),
        (["no_lost_tasks"], "expected a check name"),
    ],
)
def test_check_errors(check, message):
    errs = errors_of(with_(checks=[check]))
    assert any(message in e and "checks[0]" in e for e in errs), errs


def test_check_params_normalised():
    s = parse_scenario(
        with_(
            timeline=[{"at": "5s", "fault": "kill", "target": "worker-1"}],
            checks=[
                {"recovery_time_max": "10s", "fault": "kill"},
                {"p95_latency_ms": {"max": 300, "priority": "high"}},
                {"all_done_within": "1m"},
                {"max_duplicates": 0},
            ],
        )
    )
    rec, lat, done, dup = s.checks
    assert dict(rec.params) == {"max": 10.0, "fault": "kill"}
    assert dict(lat.params) == {"max": 300, "priority": "high"}
    assert done.params["within"] == 60 and dup.params["max"] == 0 and isinstance(dup.params["max"], int)


def test_validate_against_backend_capabilities():
    s = parse_scenario(
        with_(timeline=[{"at": "1s", "fault": "redis_failover"}, {"at": "2s", "fault": "burst", "count": 5}])
    )
    validate(s, frozenset({"redis_failover"}))
    with pytest.raises(ScenarioError) as info:
        validate(s, frozenset({"kill", "pause"}))
    assert "timeline[0].fault: the chosen backend cannot do 'redis_failover'; it can do: kill, pause" in str(info.value)
    assert "timeline[1]" not in str(info.value)


def test_files_bad_yaml_and_several_files(tmp_path: Path):
    good, bad, broken = tmp_path / "good.yaml", tmp_path / "bad.yaml", tmp_path / "broken.yaml"
    good.write_text("name: good\n")
    bad.write_text("name: bad\nsystem: {workers: 0}\n")
    broken.write_text("name: [unclosed\n")
    assert load_scenario(good).source == str(good)
    with pytest.raises(ScenarioError) as info:
        load_scenarios([good, bad, broken, tmp_path / "missing.yaml"])
    text = str(info.value)
    assert f"{bad}: system.workers: 0 is out of range" in text
    assert f"{broken}: not valid YAML (line 2" in text
    assert f"{tmp_path / 'missing.yaml'}: cannot read" in text


def test_unsafe_yaml_is_refused(tmp_path: Path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(path)


def test_dump_round_trip():
    doc = with_(
        seed=7,
        load={
            "rate": 5,
            "duration": "10s",
            "tasks": [{"type": "sleep", "ms": 10, "weight": 2}, {"type": "process"}],
            "bursts": [{"at": "2s", "count": 5, "priority": "high"}],
            "flood": {"at": "3s", "low": 4, "high": 2},
            "batch": 10,
        },
        timeline=[
            {"every": "3s", "until": "9s", "fault": "pause", "target": "random-worker", "for": "1s"},
            {
                "random": {"count": 2, "within": "8s"},
                "fault": "latency",
                "target": "worker-1",
                "latency_ms": 50,
                "for": "500ms",
            },
            {"at": "4s", "fault": "poison", "count": 2, "max_retries": 0},
        ],
        checks=["no_lost_tasks", {"recovery_time_max": "10s", "threshold": 0.5}],
        baseline={"threshold": 0.3},
    )
    s = parse_scenario(doc)
    again = parse_scenario(yaml.safe_load(scenario_yaml(s)))
    assert again == s
