"""Pure figure builders for everything on the shared time axis (seconds since run start).

Each builder takes the run and an Axis (time base + fault spans) and returns a plotly Figure;
every one draws each fault as a shaded, labelled band (Jepsen's nemesis bands), so a dip in any
panel lines up with its cause.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .rundata import Run
from .series import FaultSpan, Timebase, binned_percentiles, completion_times, downsample, rate, task_latencies
from .style import (
    PERCENTILE_DASH,
    PRIORITY_COLORS,
    SERIES_COLORS,
    STATE_COLORS,
    base_layout,
    fault_color,
    hex_rgba,
    worker_color,
    worker_sort_key,
)
from .tasksview import successes_by_worker

PRIORITIES = ("high", "normal", "low")
RAW_LATENCY_POINTS = 1500


@dataclass(frozen=True)
class Axis:
    tb: Timebase
    spans: list[FaultSpan]
    phases: list[tuple[float, str]]

    @property
    def x_range(self) -> tuple[float, float]:
        return (0.0, self.tb.t1)


def fault_bands(axis: Axis, *, labels: bool = True) -> tuple[list[dict], list[dict]]:
    """(shapes, annotations): a translucent band per fault, a line for instantaneous ones,
    labels staggered in three rows so overlapping faults stay readable; dotted phase lines."""
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for i, s in enumerate(axis.spans):
        color = fault_color(s.fault)
        end = s.end_or(axis.tb.t1)
        if end - s.start < axis.tb.t1 / 400:
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": s.start, "x1": s.start,
                           "y0": 0, "y1": 1, "line": {"color": color, "width": 2}, "layer": "below"})
        else:
            shapes.append({"type": "rect", "xref": "x", "yref": "paper", "x0": s.start, "x1": end,
                           "y0": 0, "y1": 1, "fillcolor": hex_rgba(color, 0.13), "line": {"width": 0},
                           "layer": "below"})
        if labels:
            notes.append({"x": s.start, "xref": "x", "y": 1 - 0.09 * (i % 3), "yref": "paper",
                          "text": f"<b>{s.label}</b>", "showarrow": False, "xanchor": "left",
                          "yanchor": "top", "font": {"size": 10, "color": color},
                          "bgcolor": "rgba(255,255,255,0.75)"})
    for t, phase in axis.phases:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": t, "x1": t, "y0": 0, "y1": 1,
                       "line": {"color": "#adb5bd", "width": 1, "dash": "dot"}, "layer": "below"})
        notes.append({"x": t, "xref": "x", "y": 0, "yref": "paper", "text": phase, "showarrow": False,
                      "xanchor": "left", "yanchor": "bottom", "font": {"size": 9, "color": "#868e96"}})
    return shapes, notes


_LIMIT = re.compile(r"^(p(?:50|95|99))_latency_ms(?:\[(\w+)\])?$")


def _number(expected: Any) -> float | None:
    """The limit in a check's expected value: 3000, "<= 3000", ">= 5/s", {"limit": 3000}."""
    if isinstance(expected, bool):
        return None
    if isinstance(expected, (int, float)):
        return float(expected)
    if isinstance(expected, dict):
        return next((n for v in expected.values() if (n := _number(v)) is not None), None)
    m = re.match(r"^\s*[<>]?=?\s*(-?\d+(?:\.\d+)?)", str(expected or ""))
    return float(m.group(1)) if m else None


def limit_lines(results: dict[str, Any] | None) -> dict[str, list[tuple[float, str, str, bool]]]:
    """Figure id -> (y, label, color, passed) for each check with a drawable limit: latency
    percentiles on the latency figure, throughput_min on the throughput figure."""
    out: dict[str, list[tuple[float, str, str, bool]]] = {}
    for c in (results or {}).get("checks", ()):
        name, limit = str(c.get("name", "")), _number(c.get("expected"))
        if limit is None:
            continue
        if m := _LIMIT.match(name):
            color = PRIORITY_COLORS.get(m.group(2) or "", "#30343f")
            label = f"check {m.group(1)}{f' {m.group(2)}' if m.group(2) else ''} ≤ {limit:g} ms"
            out.setdefault("latency", []).append((limit, label, color, c.get("passed") is True))
        elif name == "throughput_min":
            out.setdefault("throughput", []).append((limit, f"check throughput ≥ {limit:g}/s", "#30343f",
                                                     c.get("passed") is True))
    return out


def _limits(fig: go.Figure, lines: list[tuple[float, str, str, bool]], *, log: bool = False) -> None:
    """Horizontal limit lines with labels (annotations on a log axis take log10 positions)."""
    for y, label, color, passed in lines:
        fig.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y", y0=y, y1=y,
                      line={"color": color, "width": 1.2, "dash": "longdash" if passed else "solid"})
        fig.add_annotation(xref="paper", x=1, xanchor="right", yref="y", y=math.log10(y) if log and y > 0 else y,
                           yanchor="bottom", showarrow=False, text=label + ("" if passed else " — FAILED"),
                           font={"size": 10, "color": color}, bgcolor="rgba(255,255,255,0.75)")


def _finish(fig: go.Figure, axis: Axis, layout: dict[str, Any]) -> go.Figure:
    shapes, notes = fault_bands(axis)
    fig.update_layout(**layout)
    fig.update_layout(shapes=shapes, annotations=list(fig.layout.annotations or ()) + notes)
    return fig


def throughput_figure(run: Run, axis: Axis) -> go.Figure:
    """Completed/s (applied successes) against submitted/s (accepted), plus rejected/unknown."""
    tb, x = axis.tb, axis.tb.centers()
    fig = go.Figure()
    submits = run.records("submit")
    fig.add_trace(go.Scatter(x=x, y=rate((s["t"] for s in submits if s.get("outcome") == "ok"), tb),
                             name="submitted/s", line={"color": SERIES_COLORS["submitted"], "width": 1.5}))
    fig.add_trace(go.Scatter(x=x, y=rate(completion_times(run, tb), tb), name="completed/s",
                             line={"color": SERIES_COLORS["completed"], "width": 2.2}, fill="tozeroy",
                             fillcolor=hex_rgba(SERIES_COLORS["completed"], 0.08)))
    for outcome, label in (("fail", "rejected/s"), ("info", "unknown outcome/s")):
        times = [s["t"] for s in submits if s.get("outcome") == outcome]
        if times:
            key = "rejected" if outcome == "fail" else "unknown"
            fig.add_trace(go.Scatter(x=x, y=rate(times, tb), name=label,
                                     line={"color": SERIES_COLORS[key], "width": 1.5, "dash": "dot"}))
    fig = _finish(fig, axis, base_layout(title=f"Throughput (tasks/s, {tb.bin_s:g} s bins)",
                                         x_range=axis.x_range, y_title="tasks / s"))
    _limits(fig, limit_lines(run.results).get("throughput", []))
    return fig


def queue_figure(run: Run, axis: Axis) -> go.Figure:
    """Waiting tasks per priority (stacked), leased (running), delayed (retry backoff), dead."""
    samples = downsample(run.records("sample"))
    x = [s["t"] for s in samples]
    fig = go.Figure()
    for p in PRIORITIES:
        fig.add_trace(go.Scatter(x=x, y=[(s.get("queues") or {}).get(p, 0) for s in samples],
                                 name=f"queued {p}", stackgroup="queued", line={"width": 0.8,
                                 "color": PRIORITY_COLORS[p]}, fillcolor=hex_rgba(PRIORITY_COLORS[p], 0.45)))
    for key, dash in (("leased", "solid"), ("delayed", "dash"), ("dead", "dot")):
        fig.add_trace(go.Scatter(x=x, y=[s.get(key, 0) for s in samples], name=key,
                                 line={"color": STATE_COLORS[key], "width": 1.8, "dash": dash}))
    return _finish(fig, axis, base_layout(title="Queue depth: waiting per priority (stacked), leased, delayed, dead",
                                          x_range=axis.x_range, y_title="tasks"))


def _worker_count(value: Any) -> int | None:
    if isinstance(value, (list, tuple, set)):
        return len(value)
    return value if isinstance(value, int) else None


def _changes(samples: list[dict[str, Any]], value: Any) -> list[tuple[float, Any]]:
    """(t, value) at each change, plus the last sample: a step line needs nothing else."""
    out: list[tuple[float, Any]] = []
    for s in samples:
        v = value(s)
        if not out or out[-1][1] != v:
            out.append((s["t"], v))
    if samples and out[-1][0] != samples[-1]["t"]:
        out.append((samples[-1]["t"], out[-1][1]))
    return out


def workers_figure(run: Run, axis: Axis) -> go.Figure:
    """Live workers (registered with a fresh heartbeat) and which worker leads, as a strip."""
    samples = run.records("sample")
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.08)
    live = _changes(samples, lambda s: _worker_count(s.get("workers")))
    fig.add_trace(go.Scatter(x=[t for t, _ in live], y=[v for _, v in live], name="live workers", mode="lines",
                             line={"color": SERIES_COLORS["workers"], "width": 2, "shape": "hv"}), row=1, col=1)
    changes = _changes(samples, lambda s: s.get("leader") or None)
    leaders = sorted({str(v) for _, v in changes if v}, key=worker_sort_key)
    for w in leaders:  # one trace per leader, None-separated segments where it led
        xs: list[float | None] = []
        ys: list[str | None] = []
        for (t0, v), (t1, _) in zip(changes, changes[1:], strict=False):
            if v == w:
                xs += [t0, t1, None]
                ys += [w, w, None]
        fig.add_trace(go.Scatter(x=xs, y=ys, name=f"leader {w}", mode="lines", connectgaps=False,
                                 line={"color": worker_color(w), "width": 12}, showlegend=False,
                                 hovertemplate=f"leader: {w}<extra></extra>"), row=2, col=1)
    layout = base_layout(title="Live workers and the current leader", height=330, x_range=axis.x_range,
                         y_title="workers")
    layout["xaxis2"] = {**layout["xaxis"], "range": list(axis.x_range)}
    layout["xaxis"] = {"range": list(axis.x_range), "gridcolor": "#eceff3", "showticklabels": False}
    layout["yaxis2"] = {"type": "category", "gridcolor": "#eceff3", "automargin": True,
                        "categoryorder": "array", "categoryarray": leaders or ["none"]}
    layout["annotations"] = [{"text": "leader", "xref": "paper", "yref": "y2 domain", "x": 0, "y": 1.15,
                              "showarrow": False, "xanchor": "left", "font": {"size": 11, "color": "#6c757d"}}]
    layout["yaxis"]["dtick"] = 1
    return _finish(fig, axis, layout)


def latency_figure(run: Run, axis: Axis) -> go.Figure:
    """p50/p95/p99 submit-to-finish latency per priority, binned by submit time (log scale)."""
    tb = axis.tb
    lat = task_latencies(run, tb)
    x = tb.centers()
    fig = go.Figure()
    present = lat.priorities()
    for p in [p for p in PRIORITIES if p in present]:
        per = binned_percentiles(((t, v) for t, v, q in lat if q == p), tb)
        for q, dash in PERCENTILE_DASH.items():
            fig.add_trace(go.Scatter(x=x, y=per[float(q[1:])], name=f"{p} {q}", legendgroup=p,
                                     connectgaps=False, visible="legendonly" if q == "p95" else True,
                                     line={"color": PRIORITY_COLORS[p], "dash": dash,
                                     "width": 2 if q == "p99" else 1.4}))
    step = max(1, len(lat) // RAW_LATENCY_POINTS)
    raw = lat[::step]
    if raw:
        fig.add_trace(go.Scatter(x=[r[0] for r in raw], y=[round(r[1], 1) for r in raw], mode="markers",
                                 name=f"each task (1 in {step})" if step > 1 else "each task",
                                 visible="legendonly", marker={"size": 4, "opacity": 0.5,
                                 "color": [PRIORITY_COLORS.get(r[2], "#999") for r in raw]}))
    layout = base_layout(title="Latency, submit to finish (ms, log scale), by submit time",
                         x_range=axis.x_range, y_title="ms", height=340)
    limits = limit_lines(run.results).get("latency", [])
    lowest = min((v for v in lat.ms if v > 0), default=None)  # the positive range, for the log axis
    values = ([lowest, max(lat.ms)] if lowest is not None else []) + [y for y, *_ in limits]
    if values:
        layout["yaxis"].update(type="log", rangemode="normal", **log_ticks(min(values), max(values)))
    fig = _finish(fig, axis, layout)
    _limits(fig, limits, log=layout["yaxis"].get("type") == "log")
    return fig


def log_ticks(lo: float, hi: float) -> dict[str, Any]:
    """1-2-5 ticks labelled in ms or s across [lo, hi]: plotly's own log ticks label only the
    decades (none inside a narrow range) or bare digits."""
    vals = [m * 10 ** e for e in range(-1, 8) for m in (1, 2, 5)]
    inside = [v for v in vals if lo / 2 <= v <= hi * 2] or [lo, hi]
    text = [f"{v / 1000:g} s" if v >= 1000 else f"{v:g} ms" for v in inside]
    return {"tickmode": "array", "tickvals": inside, "ticktext": text}


def redis_figure(run: Run, axis: Axis) -> go.Figure:
    """Redis used memory (MB, left axis) and instantaneous ops/s (right axis)."""
    samples = downsample(run.records("sample"))
    x = [s["t"] for s in samples]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=[round((s.get("memory") or 0) / 1e6, 3) if s.get("memory") is not None
                                     else None for s in samples],
                             name="memory (MB)", line={"color": SERIES_COLORS["memory"], "width": 2}))
    fig.add_trace(go.Scatter(x=x, y=[s.get("ops_per_sec") for s in samples], name="ops/s", yaxis="y2",
                             line={"color": SERIES_COLORS["ops"], "width": 1.5}))
    layout = base_layout(title="Redis: used memory and operations per second", x_range=axis.x_range,
                         y_title="MB")
    layout["yaxis2"] = {"title": {"text": "ops / s"}, "overlaying": "y", "side": "right",
                        "rangemode": "tozero", "showgrid": False, "tickformat": ",.0f", "tickmode": "auto"}
    layout["margin"]["r"] = 60
    return _finish(fig, axis, layout)


def worker_rate_figure(run: Run, axis: Axis) -> go.Figure:
    """Completed/s per worker over time: who picked up the work when one stopped."""
    tb = axis.tb
    per = successes_by_worker(run.tasks, tb.offset)
    fig = go.Figure()
    for w in sorted(per, key=worker_sort_key):
        fig.add_trace(go.Scatter(x=tb.centers(), y=rate(per[w], tb), name=w,
                                 line={"color": worker_color(w), "width": 1.6}))
    return _finish(fig, axis, base_layout(title=f"Completed per worker (tasks/s, {tb.bin_s:g} s bins)",
                                          x_range=axis.x_range, y_title="tasks / s"))
