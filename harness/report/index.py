"""reports/index.html: every run under the reports root, newest first, with its verdict, key
figures and links. Reads only results.json and meta.json of each run, so it stays fast."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .keyfigs import fmt, key_figures
from .page import esc, render_page, write_page
from .sections import started_text, verdict_class
from .style import PRIORITY_COLORS, SERIES_COLORS

MARKERS = ("results.json", "history.jsonl")


@dataclass(frozen=True)
class RunEntry:
    path: Path            # run directory
    scenario: str
    started: float        # epoch seconds (for sorting)
    results: dict[str, Any] | None
    meta: dict[str, Any]

    @property
    def label_time(self) -> str:
        return (started_text({"started_at": self.started}) if self.started > 0 else None) or self.path.name


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def find_runs(root: Path, *, max_depth: int = 3) -> list[RunEntry]:
    """Run directories (holding results.json or history.jsonl) under root, newest first."""
    entries = []
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        depth = len(Path(dirpath).relative_to(root).parts)
        if depth >= max_depth:
            dirnames[:] = []
        if not any(m in filenames for m in MARKERS):
            continue
        d = Path(dirpath)
        results, meta = _read(d / "results.json"), _read(d / "meta.json") or {}
        started = meta.get("started_at", meta.get("start_wall"))
        if not isinstance(started, (int, float)):
            started = _parse_stamp(d.name) or (d / MARKERS[0] if results else d / MARKERS[1]).stat().st_mtime
        scenario = str((results or {}).get("scenario") or meta.get("scenario") or d.parent.name)
        entries.append(RunEntry(path=d, scenario=scenario, started=float(started), results=results, meta=meta))
    entries.sort(key=lambda e: (e.started, str(e.path)), reverse=True)
    return entries


def _parse_stamp(name: str) -> float | None:
    """reports/<scenario>/<YYYYmmdd-HHMMSS>: the directory name is the start time (UTC)."""
    try:
        return datetime.strptime(name[:15], "%Y%m%d-%H%M%S").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _row(e: RunEntry, root: Path) -> str:
    rel = e.path.relative_to(root).as_posix()
    checks = (e.results or {}).get("checks") or []
    failed = [c.get("name", "?") for c in checks if c.get("passed") is not True]
    klass = verdict_class((e.results or {}).get("passed")) if e.results else "unknown"
    word = {"pass": "PASSED", "fail": "FAILED", "unknown": "UNKNOWN"}[klass] if e.results else "INCOMPLETE"
    figs = key_figures(e.results)
    for a, b in (("started_at", "ended_at"), ("start_wall", "end_wall")):
        if figs["duration_s"] is None and all(isinstance(e.meta.get(k), (int, float)) for k in (a, b)):
            figs["duration_s"] = e.meta[b] - e.meta[a]
    report = e.path / "report.html"
    link = (f'<a href="{esc(rel)}/report.html">report</a>' if report.is_file()
            else '<span class="muted">no report</span>')
    detail = (f'<div class="small" style="color:var(--bad)">failed: {esc(", ".join(failed))}</div>'
              if failed else "")
    return (f'<tr class="{"failed" if klass == "fail" else "passed"}" data-text="{esc(e.scenario.lower())}">'
            f'<td class="mono small">{esc(e.label_time)}</td><td><b>{esc(e.scenario)}</b>{detail}</td>'
            f'<td><span class="badge {klass}">{word}</span></td>'
            f'<td class="num">{len(checks) - len(failed)}/{len(checks)}</td>'
            f'<td>{esc(e.meta.get("backend", "—"))}</td>'
            f'<td class="num">{esc(fmt("throughput", figs["throughput"]))}</td>'
            f'<td class="num">{esc(fmt("p99_latency_ms", figs["p99_latency_ms"]))}</td>'
            f'<td class="num">{esc(fmt("recovery_time_s", figs["recovery_time_s"]))}</td>'
            f'<td class="num">{esc(fmt("duration_s", figs["duration_s"]))}</td>'
            f'<td>{link} · <a href="{esc(rel)}/results.json">json</a></td></tr>')


def sparkline(values: list[float | None], *, color: str, width: int = 140, height: int = 28) -> str:
    """Inline SVG polyline of a key figure across runs (oldest left); the last run is a dot."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return '<span class="muted small">—</span>'
    lo, hi = min(v for _, v in pts), max(v for _, v in pts)
    span, n = (hi - lo) or 1.0, max(len(values) - 1, 1)
    xy = [(2 + i / n * (width - 4), height - 3 - (v - lo) / span * (height - 6)) for i, v in pts]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
    x, y = xy[-1]
    return (f'<svg width="{width}" height="{height}" role="img"><title>{lo:.4g} … {hi:.4g}</title>'
            f'<polyline points="{line}" fill="none" stroke="{color}" stroke-width="1.5"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/></svg>')


def trends_html(entries: list[RunEntry]) -> str:
    """One row per scenario: runs, pass rate, last verdict, throughput and p99 across runs."""
    by: dict[str, list[RunEntry]] = {}
    for e in sorted(entries, key=lambda e: e.started):
        by.setdefault(e.scenario, []).append(e)
    rows = []
    for name, runs in sorted(by.items()):
        figs = [key_figures(e.results) for e in runs]
        passed = sum(1 for e in runs if (e.results or {}).get("passed") is True)
        last = verdict_class((runs[-1].results or {}).get("passed")) if runs[-1].results else "unknown"
        rows.append(f'<tr><td><b>{esc(name)}</b></td><td class="num">{len(runs)}</td>'
                    f'<td class="num">{passed}/{len(runs)}</td>'
                    f'<td><span class="badge {last}">{last.upper()}</span></td>'
                    f'<td>{sparkline([f["throughput"] for f in figs], color=SERIES_COLORS["completed"])}</td>'
                    f'<td>{sparkline([f["p99_latency_ms"] for f in figs], color=PRIORITY_COLORS["high"])}</td></tr>')
    return ('<section class="card"><h2>Scenarios</h2><table><thead><tr><th>scenario</th><th class="num">runs</th>'
            '<th class="num">passed</th><th>last</th><th>throughput across runs</th><th>p99 across runs</th>'
            '</tr></thead><tbody>' + "".join(rows) + "</tbody></table></section>") if rows else ""


FILTER_JS = """
document.getElementById('filter').addEventListener('input', function (e) {
  var q = e.target.value.toLowerCase();
  document.querySelectorAll('#runs tbody tr').forEach(function (tr) {
    var failedOnly = document.getElementById('failed-only').checked;
    var show = tr.dataset.text.indexOf(q) >= 0 && (!failedOnly || tr.classList.contains('failed'));
    tr.style.display = show ? '' : 'none';
  });
});
document.getElementById('failed-only').addEventListener('change', function () {
  document.getElementById('filter').dispatchEvent(new Event('input'));
});
"""


def render_index(entries: list[RunEntry], root: Path) -> str:
    n_fail = sum(1 for e in entries if e.results and e.results.get("passed") is False)
    rows = "".join(_row(e, root) for e in entries) or '<tr><td colspan="10" class="muted">No runs yet.</td></tr>'
    body = (f'<header class="card"><h1>Chaos runs</h1><div class="muted">{len(entries)} runs, {n_fail} failed · '
            f'newest first · <code>harness run scenarios/*.yaml</code> adds runs here</div>'
            f'<div style="margin-top:10px"><input id="filter" placeholder="filter by scenario" '
            f'style="padding:5px 8px;border:1px solid var(--line);border-radius:6px;width:260px"> '
            f'<label class="small"><input type="checkbox" id="failed-only"> failed only</label></div></header>'
            f'{trends_html(entries)}<section class="card"><h2>Runs</h2><table id="runs"><thead><tr>'
            f'<th>started</th><th>scenario</th><th>verdict</th>'
            f'<th class="num">checks</th><th>backend</th><th class="num">throughput</th><th class="num">p99</th>'
            f'<th class="num">recovery</th><th class="num">duration</th><th>files</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></section><script>{FILTER_JS}</script>')
    return render_page(title="Chaos runs", body=body)


def update_index(reports_root: Path) -> Path:
    """(Re)write reports_root/index.html from every run found below it; returns its path."""
    root = Path(reports_root)
    root.mkdir(parents=True, exist_ok=True)
    out = root / "index.html"
    write_page(out, render_index(find_runs(root), root))
    return out
