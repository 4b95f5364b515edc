"""Swarm pieces without Docker: node-fault validation, node labels vs the stack's placement,
the node_tasks_recovered check on hand-written histories, the ledger's swarm entries."""

from __future__ import annotations

import pytest

from harness.backends import capabilities_of
from harness.backends.base import SystemSpec
from harness.backends.swarm import stack_document
from harness.checks.base import build_view
from harness.checks.nodes import node_tasks_recovered
from harness.history import FaultRecord, TaskEvent, TaskRecord
from harness.ledger import outstanding
from harness.loader import ScenarioError, parse_scenario, validate
from harness.swarm.nodes import node_labels
from harness.swarm.stack import PLACEMENT

BASE = {"name": "t", "system": {"workers": 3}, "load": {"rate": 10, "duration": "20s"}}


def errors_of(timeline: list[dict]) -> list[str]:
    with pytest.raises(ScenarioError) as info:
        parse_scenario({**BASE, "timeline": timeline}, source="f.yaml")
    return info.value.errors


def test_node_faults_take_node_targets_only() -> None:
    s = parse_scenario({**BASE, "timeline": [{"at": "1s", "fault": "node_kill", "target": "node-3",
                                              "for": "5s"}]}, source="f.yaml")
    assert s.timeline[0].target == "node-3"
    assert "needs node-N" in " ".join(errors_of([{"at": "1s", "fault": "node_drain", "target": "worker-1"}]))
    assert "needs node-N" in " ".join(errors_of([{"at": "1s", "fault": "node_partition"}]))
    assert "cannot target a node" in " ".join(errors_of([{"at": "1s", "fault": "kill", "target": "node-2"}]))


def test_node_faults_are_swarm_only() -> None:
    s = parse_scenario({**BASE, "timeline": [{"at": "1s", "fault": "node_drain", "target": "node-2"}]},
                       source="f.yaml")
    validate(s, capabilities_of("swarm"))
    for backend in ("local", "docker"):
        with pytest.raises(ScenarioError, match="cannot do 'node_drain'"):
            validate(s, capabilities_of(backend))


def test_every_placement_label_is_given_to_some_node() -> None:
    given = {f"node.labels.{k} == {v}" for i in (1, 2, 3) for k, v in node_labels(i).items()}
    for service, constraints in PLACEMENT.items():
        assert set(constraints) <= given, service


def test_stack_document_carries_the_scenario_settings_and_worker_count() -> None:
    doc = stack_document(SystemSpec(workers=5, config={"LEASE_TTL_MS": "3000"}))
    assert doc["services"]["worker"]["deploy"]["replicas"] == 5
    assert doc["services"]["gateway"]["environment"]["LEASE_TTL_MS"] == "3000"
    assert all(c["file"].startswith("/") for c in doc["configs"].values())


def _task(tid: str, claims: list[tuple[float, str]], finished: float | None, status: str) -> TaskRecord:
    events = tuple(TaskEvent(t=1000 + t, event="claimed", worker=w) for t, w in claims)
    return TaskRecord(id=tid, status=status, submitted_at=1000.0, finished_at=None if finished is None
                      else 1000 + finished, events=events)


def _run(tasks: list[TaskRecord]):
    fault = FaultRecord(t=5.0, phase="start", fault="node_kill", target="node-3", id="f1",
                        detail={"workers": ["worker-3", "worker-6"]})
    view = build_view([fault], tasks, wall_start=1000.0)
    return node_tasks_recovered(view, {"min": 1})


def test_tasks_in_flight_on_the_lost_node_must_all_succeed() -> None:
    moved = _task("a", [(4.0, "worker-3"), (9.0, "worker-1")], 10.0, "succeeded")
    before = _task("b", [(1.0, "worker-3")], 2.0, "succeeded")        # finished before the fault
    elsewhere = _task("c", [(4.0, "worker-1")], None, "failed")        # not on the node
    result = _run([moved, before, elsewhere])
    assert result.passed is True
    assert result.observed["f1:node_kill node-3"]["in_flight"] == 1
    assert result.observed["f1:node_kill node-3"]["rerun_after"] == 1
    stuck = _task("d", [(4.5, "worker-6")], None, "leased")
    assert _run([moved, stuck]).passed is False


def test_nothing_in_flight_on_the_node_fails_the_minimum() -> None:
    assert _run([_task("b", [(1.0, "worker-3")], 2.0, "succeeded")]).passed is False


def test_ledger_lists_a_swarm_until_it_is_down() -> None:
    recs = [{"op": "swarm_up", "cluster": "taskq-swarm-x"}]
    assert list(outstanding(iter(recs)).swarm) == ["taskq-swarm-x"]
    assert not outstanding(iter(recs + [{"op": "swarm_down", "cluster": "taskq-swarm-x"}])).swarm


def test_shipped_swarm_scenarios_load_and_need_the_swarm_backend() -> None:
    from pathlib import Path

    from harness.loader import load_scenario
    files = sorted((Path(__file__).resolve().parents[2] / "scenarios" / "swarm").glob("*.yaml"))
    assert [f.name for f in files] == ["node-drain.yaml", "node-loss.yaml", "node-partition.yaml",
                                       "redis-failover.yaml"]
    for f in files:
        s = load_scenario(f)
        assert s.system.backend == "swarm"
        validate(s, capabilities_of("swarm"))
        node_faults = {e.fault for e in s.timeline} & {"node_drain", "node_kill", "node_partition"}
        expected = {"no_lost_tasks", "conservation", "recovery_time_max"}
        assert {c.name for c in s.checks} >= expected | ({"node_tasks_recovered"} if node_faults else set())


def test_swarm_offers_redis_faults_and_node_faults() -> None:
    from harness.backends.swarm import SWARM_CAPABILITIES
    assert {"redis_failover", "redis_restart", "kill", "pause", "scale", "partition",
            "node_kill", "node_partition"} <= SWARM_CAPABILITIES


def test_sentinel_majority_names_the_primary_only_with_a_quorum() -> None:
    from harness.swarm.sentinels import majority
    assert majority(["redis", "redis", None]) == "redis"
    assert majority(["redis-replica", "redis", "redis-replica"]) == "redis-replica"
    assert majority(["redis", None, None]) is None
    assert majority(["redis", "redis-replica", None]) is None


def test_good_replica_needs_an_up_link_to_that_primary() -> None:
    from harness.swarm.sentinels import good_replica
    ok = {"master-link-status": "ok", "master-host": "redis", "is_sdown": False, "is_disconnected": False}
    assert good_replica([ok], "redis")
    assert not good_replica([ok], "redis-replica")
    assert not good_replica([{**ok, "master-link-status": "err"}], "redis")
    assert not good_replica([{**ok, "is_sdown": True}], "redis")
    assert not good_replica([], "redis")
