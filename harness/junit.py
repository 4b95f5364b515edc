"""JUnit XML for CI: one testsuite per scenario, one testcase per check.

A failed check is a <failure> whose message carries the observed and expected values; a check
whose outcome is unknown (it crashed, or lacked data) is an <error>. A run that never reached
the checks (system could not be brought up) is one <error> testcase named `run`.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _value(v: Any) -> str:
    return json.dumps(v, default=str) if not isinstance(v, str) else v


def suite(name: str, checks: Sequence[Any], *, duration: float = 0.0,
          error: str | None = None) -> ET.Element:
    """A <testsuite> element for one scenario's checks (CheckResult or dicts)."""
    el = ET.Element("testsuite", name=name)
    failures = errors = 0
    for c in checks:
        d = c.to_dict() if hasattr(c, "to_dict") else dict(c)
        case = ET.SubElement(el, "testcase", classname=f"scenario.{name}", name=str(d["name"]))
        text = (f"observed {_value(d.get('observed'))}, expected {_value(d.get('expected'))}: "
                f"{d.get('explanation', '')}")
        if d.get("passed") is False:
            failures += 1
            ET.SubElement(case, "failure", message=text, type="CheckFailed").text = text
        elif d.get("passed") is None:
            errors += 1
            ET.SubElement(case, "error", message=text, type="CheckUnknown").text = text
        else:
            ET.SubElement(case, "system-out").text = text
    if error is not None:
        errors += 1
        case = ET.SubElement(el, "testcase", classname=f"scenario.{name}", name="run")
        ET.SubElement(case, "error", message=error, type="RunError").text = error
    el.set("tests", str(len(el)))
    el.set("failures", str(failures))
    el.set("errors", str(errors))
    el.set("time", f"{duration:.3f}")
    return el


def document(suites: Sequence[ET.Element]) -> ET.ElementTree:
    root = ET.Element("testsuites")
    for s in suites:
        root.append(s)
    for attr in ("tests", "failures", "errors"):
        root.set(attr, str(sum(int(s.get(attr, "0")) for s in suites)))
    ET.indent(root)
    return ET.ElementTree(root)


def write(path: Path, name: str, checks: Sequence[Any], *, duration: float = 0.0,
          error: str | None = None) -> None:
    """One scenario's JUnit file (the run directory's junit.xml)."""
    write_suites(path, [suite(name, checks, duration=duration, error=error)])


def write_suites(path: Path, suites: Sequence[ET.Element]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document(suites).write(path, encoding="utf-8", xml_declaration=True)
