"""The campaign's HTML page, built with the report code (same CSS, vendored plotly, render loop):
the kill rate, a figure of caught/survived mutants per guarantee, and the matrix mutant x scenario
(caught by which check, survived, or not run)."""

from __future__ import annotations

import os
from pathlib import Path

import plotly.graph_objects as go

from harness.mutate.matrix import CAUGHT, SURVIVED, Campaign, Cell, MutantResult, guarantee_coverage
from harness.report.page import FigureBlock, esc, marker, render_page
from harness.report.style import base_layout

CAUGHT_COLOR, SURVIVED_COLOR = "#2a9d8f", "#d1495b"


def _coverage_figure(campaign: Campaign) -> FigureBlock:
    cover = guarantee_coverage(campaign.results)
    names = list(cover)
    caught = [cover[g][0] for g in names]
    survived = [cover[g][1] - cover[g][0] for g in names]
    fig = go.Figure([go.Bar(name="caught", y=names, x=caught, orientation="h", marker_color=CAUGHT_COLOR),
                     go.Bar(name="survived", y=names, x=survived, orientation="h", marker_color=SURVIVED_COLOR)])
    layout = base_layout(title="Mutants per guarantee", height=120 + 26 * len(names), x_title="mutants")
    layout.update(barmode="stack", hovermode="closest")
    layout["margin"]["l"] = 220
    layout["yaxis"].update(autorange="reversed", title={"text": ""})
    layout["xaxis"]["dtick"] = 1
    fig.update_layout(layout)
    return FigureBlock("coverage", fig, "Each guarantee of docs/contracts.md and docs/architecture.md, "
                       "with the mutants that break it: caught by a shipped scenario, or not.",
                       shared_x=False)


def _link(cell: Cell, out: Path) -> str:
    if not cell.run_dir:
        return ""
    rel = os.path.relpath(Path(cell.run_dir) / "report.html", out)
    return f' <a href="{esc(rel)}">report</a>'


def _cell_html(cell: Cell | None, out: Path) -> str:
    if cell is None:
        return '<td class="muted small">not run</td>'
    if cell.verdict == CAUGHT:
        return (f'<td style="background:#e6f4f1" title="{esc(cell.seconds)} s"><b>caught</b> '
                f'<span class="small">{esc(", ".join(cell.caught_by))}</span>{_link(cell, out)}</td>')
    if cell.verdict == SURVIVED:
        return f'<td style="background:#fbe9eb"><b>survived</b>{_link(cell, out)}</td>'
    return f'<td style="background:#fff9db"><b>no verdict</b> <span class="small">{esc(cell.error)}</span></td>'


def _row(r: MutantResult, scenarios: tuple[str, ...], out: Path) -> str:
    by_scenario = {c.scenario: c for c in r.cells}
    status = {"caught": "passed", "survived": "failed", "error": "failed"}[r.status]
    head = (f'<td><b>{esc(r.mutant.name)}</b><br><span class="small muted">{esc(r.mutant.guarantee)}</span></td>'
            f'<td class="small">{esc(r.mutant.bug)}<br><code>{esc(r.mutant.file)}</code>'
            + (f'<br><b>{esc(r.error)}</b>' if r.error else "") + "</td>"
            f"<td>{esc(r.status)}</td>")
    return f'<tr class="{status}">{head}' + "".join(_cell_html(by_scenario.get(s), out) for s in scenarios) + "</tr>"


def render_campaign(campaign: Campaign, out: Path) -> str:
    """The whole page; links to each run's report are relative to `out`."""
    caught = sum(r.caught for r in campaign.results)
    total = len(campaign.results)
    verdict = "pass" if campaign.passed else "fail"
    meta = campaign.meta
    mode = "whole matrix (--full)" if meta.get("full") else "cheapest suspects first, stop at the first catch"
    head = (f'<section class="card verdict {verdict}"><div><h1>Mutation campaign</h1>'
            f'<p class="desc">Each mutant is a named bug planted in a throwaway copy of system/; the '
            f'shipped scenarios run against it on the local backend ({esc(mode)}). A mutant is caught '
            f'when a run fails a check (or the mutated system cannot come up).</p>'
            f'<dl class="meta"><dt>command</dt><dd><code>{esc(meta.get("command", ""))}</code></dd>'
            f'<dt>wall time</dt><dd>{esc(meta.get("seconds", "?"))} s</dd>'
            f'<dt>budget per run</dt><dd>{esc(meta.get("budget_s", "?"))} s</dd></dl></div>'
            f'<div><span class="badge {verdict}">{caught}/{total} CAUGHT</span>'
            f'<div class="kpis"><div class="kpi"><div class="v">{campaign.kill_rate:.0%}</div>'
            f'<div class="k">kill rate</div></div></div></div></section>')
    cols = "".join(f"<th>{esc(s)}</th>" for s in campaign.scenarios)
    rows = "".join(_row(r, campaign.scenarios, out) for r in campaign.results)
    table = (f'<section class="card"><h2>Matrix: mutant x scenario</h2><div style="overflow-x:auto">'
             f"<table><tr><th>mutant</th><th>bug</th><th>status</th>{cols}</tr>{rows}</table></div></section>")
    body = head + marker("coverage") + table
    return render_page(title=f"mutation campaign: {caught}/{total} caught", body=body,
                       figures=[_coverage_figure(campaign)])
