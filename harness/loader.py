"""Scenario files: YAML -> Scenario, validated strictly before anything starts.

Public:
    load_scenario(path) -> Scenario            parse + validate one file (raises ScenarioError)
    load_scenarios(paths) -> list[Scenario]    all files; one ScenarioError with every problem
    parse_scenario(document, *, source) -> Scenario   the same from an already loaded document
    validate(scenario, capabilities) -> None   what a given backend can do (raises ScenarioError)
    ScenarioError (.errors: list of "FILE: path: problem; fix")
All problems of a file are collected in one pass (unknown keys, bad units, impossible targets,
bad check parameters, system settings the gateway would refuse), as Chaos Toolkit does: a
typo fails at load time, not halfway through a fault. YAML is read with yaml.safe_load.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import fields as dc_fields
from pathlib import Path
from typing import Any

import yaml

from harness import _read as r
from harness._sections import TASK_TYPES, load_section, timeline_entry
from harness.checks.registry import CHECKS
from harness.scenario import (
    BACKENDS,
    FAULTS,
    LOAD_FAULTS,
    PRIORITIES,
    Baseline,
    CheckSpec,
    Drain,
    Load,
    Scenario,
    System,
    frozen_map,
)
from harness.schedule import ScheduleError, build_schedule
from system.config import Settings
from system.errors import ConfigError

_TOP = ("name", "description", "seed", "system", "load", "timeline", "checks", "drain", "baseline")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
SETTINGS = tuple(f.name.upper() for f in dc_fields(Settings))
# Wiring the backend owns: a scenario setting these would break the harness's own connections.
BACKEND_SETTINGS = frozenset({"REDIS_URL", "REDIS_SENTINELS", "REDIS_SENTINEL_MASTER", "REDIS_PASSWORD",
                              "REDIS_PASSWORD_FILE", "REDIS_SENTINEL_PASSWORD", "REDIS_SENTINEL_PASSWORD_FILE",
                              "GATEWAY_API_TOKEN", "GATEWAY_API_TOKEN_FILE", "GATEWAY_READ_TOKEN",
                              "GATEWAY_READ_TOKEN_FILE", "GATEWAY_ALLOWED_HOSTS",
                              "WORKER_ID", "GATEWAY_HOST", "GATEWAY_PORT", "KEY_PREFIX"})


class ScenarioError(ValueError):
    """Every problem found in one or more scenario files, one per line."""

    def __init__(self, errors: Iterable[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def load_scenario(path: Path | str) -> Scenario:
    return load_scenarios([path])[0]


def load_scenarios(paths: Iterable[Path | str]) -> list[Scenario]:
    out, errors = [], []
    for path in paths:
        try:
            out.append(_load_file(Path(path)))
        except ScenarioError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ScenarioError(errors)
    return out


def _load_file(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError([f"{path}: cannot read: {exc.strerror or exc}"]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError([f"{path}: not valid YAML{where}: {problem}"]) from None
    return parse_scenario(document, source=str(path))


def parse_scenario(document: Any, *, source: str = "<scenario>") -> Scenario:
    p = r.Problems(source)
    if r.mapping(p, document, "", _TOP, what=" at the top (name:, system:, load:, timeline:, checks:)") is None:
        raise ScenarioError(p.errors)
    name = _name(p, document.get("name", Path(source).stem), source)
    description = r.text(p, document.get("description", ""), "description")
    seed = None
    if document.get("seed") is not None:
        seed = r.integer(p, document["seed"], "seed", low=0)
    system = _system(p, document.get("system"))
    load = load_section(p, document.get("load"))
    items = r.sequence(p, document.get("timeline") or [], "timeline") or []
    timeline = [timeline_entry(p, item, i) for i, item in enumerate(items)]
    checks = _checks(p, document.get("checks") or [], items)
    drain = _drain(p, document.get("drain"))
    baseline = _baseline(p, document["baseline"]) if "baseline" in document else None
    if system is not None:
        # Even with other errors, find impossible targets among the entries that did parse.
        entries = tuple(e for e in timeline if e and (load is not None or e.timing.every is None))
        _check_schedule(p, Scenario(name or "x", "", seed, system, load or Load(), entries))
    if p.errors:
        raise ScenarioError(p.errors)
    assert system and load and drain and description is not None and name
    return Scenario(name, description, seed, system, load, tuple(e for e in timeline if e),
                    tuple(checks), drain, baseline, source)


def validate(scenario: Scenario, capabilities: frozenset[str]) -> None:
    """Backend-dependent validation: every fault used must be one the backend can do (load
    faults burst/flood/poison need nothing from it). Raises ScenarioError naming the fix."""
    p = r.Problems(scenario.source or scenario.name)
    for entry in scenario.timeline:
        if entry.fault not in LOAD_FAULTS and entry.fault not in capabilities:
            can = sorted(f for f in capabilities if f in FAULTS)
            p.add(f"timeline[{entry.index}].fault", f"the chosen backend cannot do {entry.fault!r}; "
                                                     f"it can do: {', '.join(can) or 'no faults'}"
                                                     " (or run with the other --backend)")
    if p.errors:
        raise ScenarioError(p.errors)


def _name(p: r.Problems, value: Any, source: str) -> str | None:
    name = r.text(p, value, "name")
    if name is not None and not _NAME.fullmatch(name):
        p.add("name", f"{name!r} cannot be a directory name; use letters, digits, '.', '_' and '-' "
                      f"(e.g. {re.sub(r'[^A-Za-z0-9._-]+', '-', name).strip('-') or 'my-scenario'!r})")
        return None
    return name


def _system(p: r.Problems, node: Any) -> System | None:
    if node is None:
        return System()
    if r.mapping(p, node, "system", ("backend", "workers", "config")) is None:
        return None
    backend = r.choice(p, node["backend"], "system.backend", BACKENDS) if "backend" in node else None
    workers = r.integer(p, node.get("workers", 3), "system.workers", low=1, high=64)
    config = _config(p, node.get("config") or {})
    if workers is None or config is None or ("backend" in node and backend is None):
        return None
    return System(backend, workers, frozen_map(config))


def _config(p: r.Problems, node: Any) -> dict[str, str] | None:
    """System settings as environment strings, checked by the system's own Settings.from_env."""
    if not isinstance(node, dict):
        p.add("system.config", f"expected a mapping like {{LEASE_TTL_MS: 2000}}, got {r.describe(node)}")
        return None
    env: dict[str, str] = {}
    for key, value in node.items():
        path = f"system.config.{key}"
        if key not in SETTINGS:
            upper = str(key).upper()
            fix = (f"settings are upper-case environment names: write {upper}" if upper in SETTINGS else
                   f"unknown setting{r.suggest(upper, SETTINGS)}; see the table in README.md "
                   "(python -m system.config)")
            p.add(path, fix)
        elif key in BACKEND_SETTINGS:
            p.add(path, "is set by the backend (it wires Redis, ports and names); remove it")
        elif isinstance(value, (dict, list)) or value is None:
            p.add(path, f"expected a single value, got {r.describe(value)}")
        else:
            env[key] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    try:
        Settings.from_env(env)
    except ConfigError as exc:
        p.add("system.config", str(exc).removeprefix("invalid environment: "))
        return None
    return env


def _checks(p: r.Problems, node: Any, timeline: list) -> list[CheckSpec]:
    items = r.sequence(p, node, "checks") or []
    faults = {e.get("fault") for e in timeline if isinstance(e, dict) and e.get("fault") in FAULTS}
    out = []
    for i, item in enumerate(items):
        spec = _check(p, item, f"checks[{i}]", faults)
        if spec is not None:
            out.append(spec)
    return out


def _check(p: r.Problems, item: Any, path: str, faults: set) -> CheckSpec | None:
    if isinstance(item, str):
        name, value, rest = item, None, {}
    elif isinstance(item, dict):
        names = [k for k in item if k in CHECKS]
        if len(names) != 1:
            unknown = [k for k in item if k not in CHECKS]
            hint = r.suggest(unknown[0], CHECKS) if unknown and not names else ""
            p.add(path, f"name exactly one check{hint}; known checks: {', '.join(CHECKS)}")
            return None
        name, value = names[0], item[names[0]]
        rest = {k: v for k, v in item.items() if k != name}
    else:
        p.add(path, f"expected a check name or {{name: value}}, got {r.describe(item)}")
        return None
    if name not in CHECKS:
        p.add(path, f"unknown check {name!r}{r.suggest(name, CHECKS)}; known checks: {', '.join(CHECKS)}")
        return None
    definition = CHECKS[name]
    if isinstance(value, dict):
        rest = {**value, **rest}
    elif value is not None and value is not True:
        if definition.shorthand is None:
            p.add(path, f"{name} takes no value; write just `- {name}`")
            return None
        rest = {definition.shorthand: value, **rest}
    params = {}
    for key, raw in rest.items():
        if key not in definition.params:
            allowed = ", ".join(definition.params) or "none"
            p.add(f"{path}.{key}", f"{name} has no parameter {key!r}{r.suggest(key, definition.params)}; "
                                   f"its parameters: {allowed}")
            continue
        params[key] = _check_param(p, definition.params[key], raw, f"{path}.{key}", faults)
    for key in definition.required:
        if key not in rest:
            p.add(path, f"{name} needs {key}: write {{{name}: <{key}>}}")
    if any(v is None for v in params.values()) or any(k not in rest for k in definition.required):
        return None
    return CheckSpec(name, frozen_map(params))


def _check_param(p: r.Problems, kind: str, value: Any, path: str, faults: set) -> Any:
    if kind == "ms" or kind == "number":
        return r.number(p, value, path, low=0)
    if kind == "ratio":
        return r.number(p, value, path, low=0, exclusive_low=True)
    if kind == "fraction":
        return r.number(p, value, path, low=0, high=1)
    if kind == "duration":
        return r.duration(p, value, path)
    if kind == "count0":
        return r.integer(p, value, path, low=0)
    if kind == "count_or_fraction":
        if isinstance(value, float) and not 0 <= value < 1:
            p.add(path, f"{value} is neither a count (whole number) nor a fraction below 1")
            return None
        return value if isinstance(value, float) else r.integer(p, value, path, low=0)
    if kind == "priority":
        return r.choice(p, value, path, PRIORITIES)
    if kind == "task_type":
        return r.choice(p, value, path, TASK_TYPES)
    if kind == "start_or_end":
        return r.choice(p, value, path, ("start", "end"))
    if kind == "fault":
        used = sorted(f for f in faults if isinstance(f, str))
        if value not in used and value not in ("burst", "flood"):
            p.add(path, f"{value!r} is not a fault of this scenario's timeline; "
                        f"use one of: {', '.join(used) or '(none)'}")
            return None
        return value
    raise AssertionError(f"unknown check parameter kind {kind}")


def _drain(p: r.Problems, node: Any) -> Drain | None:
    if node is None:
        return Drain()
    if r.mapping(p, node, "drain", ("timeout",)) is None:
        return None
    timeout = r.duration(p, node.get("timeout", "60s"), "drain.timeout", positive=True)
    return None if timeout is None else Drain(timeout)


def _baseline(p: r.Problems, node: Any) -> Baseline | None:
    if r.mapping(p, node, "baseline", ("threshold",)) is None:
        return None
    value = r.number(p, node.get("threshold", 0.2), "baseline.threshold", low=0, exclusive_low=True)
    return None if value is None else Baseline(value)


def _check_schedule(p: r.Problems, scenario: Scenario) -> None:
    """Targets that do not exist at their time, heals with nothing to heal: found by building
    the schedule once with the scenario's seed (or 0)."""
    if any(e.timing.every is not None and e.timing.until is None for e in scenario.timeline) \
            and scenario.load.duration == 0:
        for e in scenario.timeline:
            if e.timing.every is not None and e.timing.until is None:
                p.add(f"timeline[{e.index}].until", "every: needs until: when the load has no duration")
        return
    try:
        build_schedule(scenario, seed=scenario.seed or 0)
    except ScheduleError as exc:
        for index, field, message in exc.problems:
            p.add(f"timeline[{index}].{field}", message)
