"""Pure parts of the harness's I/O side: ledger folding, toxic plans, JUnit XML, CLI parsing."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import junit
from harness.checks import CheckResult
from harness.cleanup import owner_pid
from harness.faults import toxic_specs
from harness.ledger import Ledger, outstanding, read_records


def test_outstanding_keeps_only_what_was_not_undone(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path, "run1")
    ledger.write("spawn", pid=10, name="redis", argv=["redis-server"])
    ledger.write("spawn", pid=11, name="worker-1", argv=["python"])
    ledger.write("reaped", pid=10, name="redis")
    ledger.write("fault", id="f1", fault="partition", targets=["worker-1"])
    ledger.write("fault", id="f2", fault="pause", targets=["worker-2"])
    ledger.write("healed", id="f1")
    ledger.write("compose_up", project="p1")
    ledger.close()
    with open(ledger.path, "a") as fh:
        fh.write('{"op": "spawn", "pid": 12')  # torn last line of a killed harness
    left = outstanding(read_records(ledger.path))
    assert list(left.processes) == [11]
    assert list(left.faults) == ["f2"]
    assert list(left.compose) == ["p1"]
    assert not left.empty
    assert owner_pid(ledger.path) == __import__("os").getpid()


def test_archive_moves_the_ledger_into_the_run_dir(tmp_path: Path) -> None:
    ledger = Ledger.create(tmp_path / "state", "r")
    ledger.write("tempdir", path="/nowhere")
    ledger.archive(tmp_path / "run")
    assert not ledger.path.exists()
    assert (tmp_path / "run" / "ledger.jsonl").read_text().count("tempdir") == 1


def test_toxic_specs_per_direction_and_units() -> None:
    both = toxic_specs("latency", {"latency_ms": 100.0, "jitter_ms": 10, "direction": "both",
                                   "toxicity": 0.5})
    assert [s["stream"] for s in both] == ["upstream", "downstream"]
    assert both[0] == {"type": "latency", "stream": "upstream", "toxicity": 0.5,
                       "attributes": {"latency": 100, "jitter": 10}}
    cut = toxic_specs("partition", {"direction": "upstream"})
    assert cut == [{"type": "timeout", "stream": "upstream", "toxicity": 1.0,
                    "attributes": {"timeout": 0}}]
    assert toxic_specs("slicer", {"average_size": 64, "size_variation": 32, "delay_us": 100,
                                  "direction": "downstream"})[0]["attributes"] == {
        "average_size": 64, "size_variation": 32, "delay": 100}
    assert toxic_specs("bandwidth", {"rate_kbps": 8})[0]["attributes"] == {"rate": 8}


def test_junit_has_a_failure_with_observed_and_expected(tmp_path: Path) -> None:
    checks = [CheckResult("no_lost_tasks", True, {"lost": 0}, {"lost": 0}, "fine"),
              CheckResult("p99_latency_ms", False, 7300.5, 5000, "too slow"),
              CheckResult("priority_order", None, None, None, "no flood")]
    path = tmp_path / "j.xml"
    junit.write(path, "demo", checks, duration=1.5)
    root = ET.parse(path).getroot()
    assert root.get("tests") == "3" and root.get("failures") == "1" and root.get("errors") == "1"
    failure = root.find(".//testcase[@name='p99_latency_ms']/failure")
    assert failure is not None and "observed 7300.5" in failure.get("message", "")
    assert "expected 5000" in failure.get("message", "")


def test_junit_run_error_without_checks(tmp_path: Path) -> None:
    path = tmp_path / "j.xml"
    junit.write_suites(path, [junit.suite("demo", [], error="could not bring the system up")])
    case = ET.parse(path).getroot().find(".//testcase[@name='run']/error")
    assert case is not None and "bring the system up" in case.get("message", "")


def test_cli_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nload: {rate: 5, duration: 10 s}\nbogus: 1\n")
    assert main(["validate", str(bad)]) == 2
    out = capsys.readouterr().out
    assert "bogus" in out and "duration" in out
    with pytest.raises(SystemExit) as exc:
        main(["run"])
    assert exc.value.code == 2
