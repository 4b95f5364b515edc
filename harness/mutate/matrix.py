"""The campaign's pure parts: the plan (which runs, in which order), verdicts of single runs read
from results.json, and the matrix mutant x scenario with its kill rate. No I/O here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.mutate.mutant import Mutant

CAUGHT, SURVIVED, ERROR, SKIPPED = "caught", "survived", "error", "skipped"
EXIT_PASS, EXIT_CHECK_FAILED, EXIT_SYSTEM = 0, 1, 3


@dataclass(frozen=True, slots=True)
class Cell:
    """One run of one scenario against one mutant. `caught_by` names the failed checks (or
    `system could not come up` for exit 3); `error` says why a run gave no verdict."""

    mutant: str
    scenario: str
    verdict: str                   # caught | survived | error
    caught_by: tuple[str, ...] = ()
    seconds: float = 0.0
    run_dir: str = ""
    error: str = ""


@dataclass(frozen=True, slots=True)
class MutantResult:
    mutant: Mutant
    cells: tuple[Cell, ...] = ()
    error: str = ""                # could not be planted (old text missing): counts as survived

    @property
    def caught(self) -> bool:
        return not self.error and any(c.verdict == CAUGHT for c in self.cells)

    @property
    def status(self) -> str:
        if self.error:
            return ERROR
        return CAUGHT if self.caught else SURVIVED


@dataclass(frozen=True, slots=True)
class Campaign:
    results: tuple[MutantResult, ...]
    scenarios: tuple[str, ...]      # matrix columns, cheapest first
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def kill_rate(self) -> float:
        return kill_rate(self.results)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.caught for r in self.results)


def kill_rate(results: Sequence[MutantResult]) -> float:
    """Caught mutants over all mutants tried (a mutant that could not be planted is not caught)."""
    return sum(r.caught for r in results) / len(results) if results else 0.0


def scenario_cost(load_seconds: float, timeline_end: float, drain_timeout: float) -> float:
    """Rough wall time of a run on the unmodified system, used only to order suspects: the load
    or the last fault's end, whichever is later, plus a little of the drain."""
    return max(load_seconds, timeline_end) + 0.2 * drain_timeout


def order_suspects(names: Sequence[str], costs: Mapping[str, float]) -> tuple[str, ...]:
    """Scenarios cheapest first (unknown cost last); ties keep the mutant table's order."""
    return tuple(sorted(dict.fromkeys(names), key=lambda n: costs.get(n, float("inf"))))


def plan(mutants: Sequence[Mutant], costs: Mapping[str, float], *,
         full: bool) -> list[tuple[Mutant, tuple[str, ...]]]:
    """Each mutant with the scenarios to try on it: its suspects cheapest first, or with `full`
    every shipped scenario (cheapest first). The runner stops at the first catch unless `full`."""
    every = order_suspects(list(costs), costs)
    return [(m, every if full else order_suspects(m.scenarios, costs)) for m in mutants]


def verdict_of(exit_code: int, results: Mapping[str, Any] | None) -> tuple[str, tuple[str, ...], str]:
    """(verdict, failed checks, error) of one `harness run` from its exit code and results.json.

    Caught: exit 1 with at least one failed check, or exit 3 (the mutated system could not be
    brought up, which a real deploy would notice too). Survived: exit 0 and every check passed.
    Anything else (interrupted, over budget, no results) is an error: no verdict."""
    checks = list((results or {}).get("checks") or [])
    failed = tuple(str(c.get("name")) for c in checks if c.get("passed") is False)
    if exit_code == EXIT_PASS and results is not None and results.get("passed", True) and not failed:
        return SURVIVED, (), ""
    if exit_code == EXIT_CHECK_FAILED and failed:
        return CAUGHT, failed, ""
    if exit_code == EXIT_SYSTEM:
        return CAUGHT, ("system could not come up",), ""
    why = "no results.json" if results is None else f"exit {exit_code} with failed checks {list(failed)}"
    return ERROR, (), f"no verdict: {why}"


def columns(results: Iterable[MutantResult], costs: Mapping[str, float]) -> tuple[str, ...]:
    """Scenarios that appear in any result, cheapest first."""
    seen = [c.scenario for r in results for c in r.cells]
    return order_suspects(seen, costs)


def to_json(campaign: Campaign) -> dict[str, Any]:
    """The mutants.json document."""
    return {
        "kill_rate": round(campaign.kill_rate, 4),
        "passed": campaign.passed,
        "caught": sum(r.caught for r in campaign.results),
        "total": len(campaign.results),
        "scenarios": list(campaign.scenarios),
        "meta": dict(campaign.meta),
        "mutants": [{
            "name": r.mutant.name, "guarantee": r.mutant.guarantee, "bug": r.mutant.bug,
            "file": r.mutant.file, "old": r.mutant.old, "new": r.mutant.new,
            "suspects": list(r.mutant.scenarios), "status": r.status, "error": r.error,
            "runs": [{"scenario": c.scenario, "verdict": c.verdict, "caught_by": list(c.caught_by),
                      "seconds": round(c.seconds, 1), "run_dir": c.run_dir, "error": c.error}
                     for c in r.cells],
        } for r in campaign.results],
    }


def guarantee_coverage(results: Iterable[MutantResult]) -> dict[str, tuple[int, int]]:
    """guarantee -> (mutants caught, mutants tried): the guarantees no scenario protects show 0."""
    out: dict[str, tuple[int, int]] = {}
    for r in results:
        caught, tried = out.get(r.mutant.guarantee, (0, 0))
        out[r.mutant.guarantee] = (caught + r.caught, tried + 1)
    return out
