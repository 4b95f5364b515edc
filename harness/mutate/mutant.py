"""What a mutant is and how it is planted: a named, exact code substitution in a copy of `system/`.

Pure apart from the file copy: `plant` refuses (MutantError) when the old text is not found
exactly once, so a refactor of the system cannot silently disarm a mutant.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


class MutantError(ValueError):
    """A mutant that cannot be planted: its file is missing or its old text is not there once."""


@dataclass(frozen=True, slots=True)
class Mutant:
    """One seeded bug. `scenarios` are the shipped scenarios expected to catch it (file stems),
    cheapest first; `guarantee` names the promise of docs/contracts.md or architecture.md it breaks."""

    name: str
    guarantee: str
    bug: str                       # the planted bug in one sentence
    file: str                      # path under the project root, e.g. system/lua/reap.lua
    old: str                       # exact text, present exactly once in `file`
    new: str
    scenarios: tuple[str, ...]

    def substitute(self, source: str) -> str:
        """The source with the bug planted; MutantError when `old` is not there exactly once."""
        found = source.count(self.old)
        if found != 1:
            where = "not found" if found == 0 else f"found {found} times"
            raise MutantError(f"mutant {self.name}: its old text is {where} in {self.file}; the code "
                              f"changed, so update the mutant's `old` (harness/mutate/table.py) to "
                              f"the current code of the same spot: {self.old!r}")
        return source.replace(self.old, self.new)


def copy_system(project_root: Path, dest: Path) -> Path:
    """A throwaway copy of the project's `system/` package under `dest` (the real checkout is
    only read). Returns `dest`, the root to put on the spawned processes' PYTHONPATH."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(project_root / "system", dest / "system",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def plant(mutant: Mutant, root: Path) -> Path:
    """Apply the mutant to the copy at `root` (never the real checkout); returns the file changed."""
    if not mutant.file.startswith("system/"):
        raise MutantError(f"mutant {mutant.name}: file {mutant.file} is outside system/; "
                          "mutants change only the system under test")
    path = root / mutant.file
    if not path.is_file():
        raise MutantError(f"mutant {mutant.name}: {mutant.file} does not exist; update the mutant's "
                          "file to where that code lives now")
    path.write_text(mutant.substitute(path.read_text(encoding="utf-8")), encoding="utf-8")
    return path
