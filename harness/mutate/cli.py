"""`harness mutate`: argument handling and the terminal output (progress lines, the table)."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.mutate.campaign import CampaignOptions, run_campaign, write_outputs
from harness.mutate.matrix import Campaign
from harness.mutate.mutant import MutantError
from harness.mutate.table import MUTANTS, by_name

EXIT_PASS, EXIT_SURVIVED, EXIT_BAD_INPUT = 0, 1, 2


def _table(campaign: Campaign) -> Table:
    table = Table(title=f"mutants: {sum(r.caught for r in campaign.results)}/{len(campaign.results)} "
                        f"caught, kill rate {campaign.kill_rate:.0%}")
    for col in ("mutant", "guarantee", "status", "caught by / why not"):
        table.add_column(col)
    for r in campaign.results:
        catches = [f"{c.scenario}: {', '.join(c.caught_by)}" for c in r.cells if c.caught_by]
        why = r.error or "; ".join(catches) or "; ".join(
            f"{c.scenario}: {c.error or c.verdict}" for c in r.cells) or "no shipped scenario exercises it"
        mark = "[green]caught[/green]" if r.caught else f"[red]{r.status.upper()}[/red]"
        table.add_row(r.mutant.name, r.mutant.guarantee, mark, why)
    return table


def _list(console: Console) -> int:
    table = Table(title=f"{len(MUTANTS)} mutants (harness/mutate/table.py)")
    for col in ("mutant", "guarantee", "file", "bug", "suspects"):
        table.add_column(col)
    for m in MUTANTS:
        table.add_row(m.name, m.guarantee, m.file, m.bug, ", ".join(m.scenarios) or "-")
    console.print(table)
    return EXIT_PASS


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def mutate(args: argparse.Namespace, console: Console) -> int:
    if args.list:
        return _list(console)
    known = by_name()
    unknown = [n for n in args.mutant if n not in known]
    if unknown or args.budget <= 0:
        for n in unknown:
            console.print(f"error: no mutant {n!r}; known: {', '.join(known)}", markup=False)
        if args.budget <= 0:
            console.print(f"error: --budget {args.budget:g} must be a positive number of seconds", markup=False)
        return EXIT_BAD_INPUT
    chosen = [known[n] for n in dict.fromkeys(args.mutant)] or list(MUTANTS)
    out = args.out or Path("reports") / "mutate" / time.strftime("%Y%m%d-%H%M%S")
    opts = CampaignOptions(out=out.resolve(), full=args.full, budget=args.budget,
                           say=lambda line: console.print(line, markup=False, soft_wrap=True))
    signal.signal(signal.SIGTERM, _interrupt)  # CI's timeout: stop the run in progress cleanly
    try:
        campaign = run_campaign(chosen, opts)
    except MutantError as exc:
        console.print(f"error: {exc}", markup=False)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        console.print("interrupted: the run in progress was torn down", markup=False)
        return 130
    files = write_outputs(campaign, opts.out)
    console.print(_table(campaign))
    console.print(f"wrote {files['json']} and {files['html']}", markup=False)
    return EXIT_PASS if campaign.passed else EXIT_SURVIVED
