"""`harness compare RUN_A RUN_B`: one page with two runs side by side — key figures with the
change, checks next to each other, and throughput, p99 latency, queue depth and live workers
overlaid on one time axis (A blue, B orange; A's faults filled, B's outlined)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import plotly.graph_objects as go

from .figures_time import Axis, fault_bands
from .keyfigs import KEYS, LABELS, fmt, merged_figures
from .page import FigureBlock, esc, marker, render_page, write_page
from .rundata import Run, load_run
from .sections import compact, verdict_class
from .series import (
    Timebase,
    binned_percentiles,
    completion_times,
    downsample,
    fault_spans,
    rate,
    task_latencies,
    timebase,
)
from .style import RUN_COLORS, base_layout, fault_color

LOWER_IS_BETTER = {"p50_latency_ms", "p95_latency_ms", "p99_latency_ms", "recovery_time_s", "dead"}
HIGHER_IS_BETTER = {"throughput"}


def _common(a: Run, b: Run) -> tuple[Timebase, Timebase]:
    ta, tb = timebase(a), timebase(b)
    t1, bin_s = max(ta.t1, tb.t1), max(ta.bin_s, tb.bin_s)
    return Timebase(ta.offset, t1, bin_s), Timebase(tb.offset, t1, bin_s)


def _bands(a: Run, b: Run, tba: Timebase, tbb: Timebase) -> tuple[list[dict], list[dict]]:
    shapes, notes = fault_bands(Axis(tb=tba, spans=fault_spans(a, t1=tba.t1), phases=[]))
    for n in notes:
        n["text"] = "A: " + n["text"]
    for i, s in enumerate(fault_spans(b, t1=tbb.t1)):
        color = fault_color(s.fault)
        shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": s.start, "x1": s.end_or(tbb.t1),
                       "y0": 0, "y1": 1, "line": {"color": color, "width": 1, "dash": "dash"}, "layer": "below"})
        notes.append({"x": s.start, "xref": "x", "y": 0.05 + 0.08 * (i % 3), "yref": "paper",
                      "text": f"B: {s.label}", "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                      "font": {"size": 10, "color": color}})
    return shapes, notes


def _figure(title: str, y_title: str, traces: list[go.Scatter], bands: tuple[list, list], t1: float,
            *, log: bool = False) -> go.Figure:
    fig = go.Figure(traces)
    layout = base_layout(title=title, x_range=(0, t1), y_title=y_title, height=300)
    if log:
        layout["yaxis"].update(type="log", rangemode="normal", dtick=1)
    fig.update_layout(**layout, shapes=bands[0], annotations=bands[1])
    return fig


def _series(run: Run, tb: Timebase, which: str) -> tuple[list[float], list[Any]]:
    if which == "throughput":
        return tb.centers(), rate(completion_times(run, tb), tb)
    if which == "p99":
        lat = task_latencies(run, tb)
        return tb.centers(), binned_percentiles(((t, v) for t, v, _ in lat), tb, (99,))[99]
    samples = downsample(run.records("sample"))
    if which == "queued":
        return [s["t"] for s in samples], [sum((s.get("queues") or {}).values()) for s in samples]
    return [s["t"] for s in samples], [s["workers"] if isinstance(s.get("workers"), int)
                                       else len(s.get("workers") or ()) for s in samples]


def compare_figures(a: Run, b: Run) -> list[FigureBlock]:
    tba, tbb = _common(a, b)
    bands = _bands(a, b, tba, tbb)
    blocks = []
    for key, title, y_title, shape in (
            ("throughput", "Throughput: completed/s", "tasks / s", "linear"),
            ("p99", "p99 latency by submit time (ms, log scale)", "ms", "linear"),
            ("queued", "Tasks waiting (all priorities)", "tasks", "linear"),
            ("workers", "Live workers", "workers", "hv")):
        traces = []
        for label, run, tb in (("A", a, tba), ("B", b, tbb)):
            x, y = _series(run, tb, key)
            traces.append(go.Scatter(x=x, y=y, name=f"{label}: {run.name}", connectgaps=False,
                                     line={"color": RUN_COLORS[label], "width": 2, "shape": shape}))
        blocks.append(FigureBlock(f"cmp-{key}", _figure(title, y_title, traces, bands, tba.t1, log=key == "p99")))
    return blocks


def _change(key: str, va: float | None, vb: float | None) -> str:
    if va is None or vb is None or va == 0:
        return '<td class="num muted">—</td>'
    pct = (vb - va) / abs(va) * 100
    if key not in LOWER_IS_BETTER | HIGHER_IS_BETTER or abs(pct) < 5:
        color = "var(--muted)"
    else:
        worse = pct > 0 if key in LOWER_IS_BETTER else pct < 0
        color = "var(--bad)" if worse else "var(--ok)"
    return f'<td class="num" style="color:{color}">{pct:+.1f} %</td>'


def _head(label: str, run: Run, out: Path) -> str:
    klass = verdict_class((run.results or {}).get("passed"))
    rel = os.path.relpath(run.run_dir / "report.html", out.parent) if run.run_dir else ""
    has_report = run.run_dir is not None and (run.run_dir / "report.html").is_file()
    link = f' · <a href="{esc(Path(rel).as_posix())}">report</a>' if has_report else ""
    return (f'<div><div class="small" style="color:{RUN_COLORS[label]};font-weight:700">RUN {label}</div>'
            f'<h2>{esc(run.name)} <span class="badge {klass}">{klass.upper()}</span></h2>'
            f'<div class="small muted">{esc(run.run_dir)} · backend {esc(run.meta.get("backend", "—"))} · seed '
            f'{esc(run.meta.get("seed", "—"))}{link}</div></div>')


def _checks_table(a: Run, b: Run) -> str:
    ca = {c.get("name"): c for c in (a.results or {}).get("checks", ())}
    cb = {c.get("name"): c for c in (b.results or {}).get("checks", ())}
    names = list(dict.fromkeys([*ca, *cb]))

    def cell(c: dict | None) -> str:
        if c is None:
            return '<td class="muted">—</td>'
        k = verdict_class(c.get("passed"))
        return (f'<td><b style="color:var(--{"ok" if k == "pass" else "bad"})">{"✔" if k == "pass" else "✘"}</b> '
                f'<span class="obs">{esc(compact(c.get("observed"), 4))}</span></td>')
    rows = "".join(f'<tr><td class="mono">{esc(n)}</td>{cell(ca.get(n))}{cell(cb.get(n))}</tr>' for n in names)
    return ('<section class="card"><h2>Checks</h2><table><thead><tr><th>check</th><th>A</th><th>B</th></tr>'
            f'</thead><tbody>{rows}</tbody></table></section>')


def render_compare(a: Run, b: Run, out: Path) -> str:
    fa, fb = merged_figures(a), merged_figures(b)
    rows = "".join(f'<tr><td>{esc(LABELS[k])}</td><td class="num">{esc(fmt(k, fa[k]))}</td>'
                   f'<td class="num">{esc(fmt(k, fb[k]))}</td>{_change(k, fa[k], fb[k])}</tr>' for k in KEYS)
    blocks = compare_figures(a, b)
    body = (f'<header class="card"><div class="muted small">run comparison</div><div class="grid2">'
            f'{_head("A", a, out)}{_head("B", b, out)}</div></header>'
            f'<section class="card"><h2>Key figures</h2><table><thead><tr><th>figure</th><th class="num">A</th>'
            f'<th class="num">B</th><th class="num">B vs A</th></tr></thead><tbody>{rows}</tbody></table></section>'
            + _checks_table(a, b) + "".join(marker(x.id) for x in blocks))
    return render_page(title=f"compare {a.name} vs {b.name}", body=body, figures=blocks)


def compare_runs(run_a: Path, run_b: Path, out: Path) -> Path:
    """Write the side-by-side page of two run directories to `out`; returns `out`."""
    a, b = load_run(Path(run_a)), load_run(Path(run_b))
    out = Path(out)
    write_page(out, render_compare(a, b, out))
    return out
