"""docs/mutants.md from the mutant table and a campaign's mutants.json:
`python3 -m harness.mutate.mdoc reports/mutate/<time>/mutants.json ["note on the measurement"]`
rewrites the generated top of docs/mutants.md and keeps the hand-written part from MARKER on."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.mutate.table import EXCLUDED, GUARANTEES, MUTANTS

INTRO = """# Mutants: does the harness catch real bugs?

`harness mutate` plants known bugs, one at a time, into a throwaway copy of `system/` and runs
the shipped scenarios against it on the local backend, through the ordinary `harness run` path
(`HARNESS_SYSTEM_ROOT` points the spawned gateway and workers at the copy; the checkout is only
read). A mutant is **caught** when a run fails at least one check (or the mutated system cannot
come up: exit 3); it **survives** when every run passes. By default each mutant runs only its
suspect scenarios, cheapest first, and stops at the first catch; `--full` runs the whole matrix.

Mutants are data (`harness/mutate/table.py`): name, guarantee broken, file, an exact substitution
(old text -> new text) and the suspect scenarios. The campaign refuses a mutant whose old text is
not in its file exactly once (a refactor cannot silently disarm it), and `tests/unit/test_mutate.py`
checks every one against the real source.

```
python3 -m harness mutate                     # all mutants, suspects only; exit 1 if any survives
python3 -m harness mutate --mutant no-retries # one mutant
python3 -m harness mutate --full              # every scenario against every mutant
python3 -m harness mutate --list              # the table
```
Output in `reports/mutate/<time>/`: `mutants.json`, `mutants.html` (matrix and kill rate, built
with the report code), each run's own report under `runs/<mutant>/`, and the logs.
"""


MARKER = "<!-- hand-written below: kept when the page is regenerated -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "mutants.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "\\n")


def _caught_by(entry: Mapping[str, Any] | None) -> str:
    if entry is None:
        return "not measured"
    if entry.get("error"):
        return f"NOT PLANTED: {entry['error']}"
    catches = [f"`{r['scenario']}` ({', '.join(r['caught_by'])})" for r in entry["runs"] if r["verdict"] == "caught"]
    if catches:
        return "; ".join(catches)
    tried = ", ".join(f"`{r['scenario']}`" for r in entry["runs"]) or "no shipped scenario exercises it"
    return f"**SURVIVES** ({tried})"


def render(doc: Mapping[str, Any], *, measured: str = "") -> str:
    """The whole page: intro, the kill rate, one row per mutant, coverage per guarantee."""
    runs = {m["name"]: m for m in doc.get("mutants", [])}
    lines = [INTRO, "## Result", ""]
    lines.append(f"Kill rate **{doc.get('caught', 0)}/{doc.get('total', 0)} "
                 f"({100 * doc.get('kill_rate', 0):.0f} %)**, campaign wall time "
                 f"{doc.get('meta', {}).get('seconds', '?')} s on the local backend. {measured}".rstrip())
    lines += ["", "| mutant | guarantee | the bug it plants | file | caught by (scenario: failed checks) |",
              "|---|---|---|---|---|"]
    for m in MUTANTS:
        caught_by = _cell(_caught_by(runs.get(m.name)))
        lines.append(f"| `{m.name}` | {m.guarantee} | {_cell(m.bug)} | `{m.file}` | {caught_by} |")
    lines += ["", "## Per guarantee", "", "| guarantee | mutants | caught |", "|---|---|---|"]
    for g in GUARANTEES:
        names = [m.name for m in MUTANTS if m.guarantee == g]
        caught = sum(1 for n in names if runs.get(n, {}).get("status") == "caught")
        lines.append(f"| {g} | {len(names)} | {caught} |")
    lines += ["", "## Left out: equivalent mutants", "", "| mutant | change | why it is not a real bug here |",
              "|---|---|---|"]
    lines += [f"| `{name}` | {_cell(change)} | {_cell(why)} |" for name, change, why in EXCLUDED]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    if not argv or not Path(argv[0]).is_file():
        print("usage: python3 -m harness.mutate.mdoc MUTANTS_JSON [NOTE]  (rewrites docs/mutants.md)",
              file=sys.stderr)
        return 2
    doc = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    old = DOC.read_text(encoding="utf-8") if DOC.is_file() else ""
    kept = old[old.index(MARKER):] if MARKER in old else MARKER + "\n"
    DOC.write_text(render(doc, measured=" ".join(argv[1:])) + "\n" + kept, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
