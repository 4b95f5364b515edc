"""Pure figure builders over task records: per-worker load with a fairness figure, and the
task timeline (Gantt: which worker ran which attempt, with retries, lease expiries, stale acks)."""
from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from .figures_time import Axis, _finish
from .style import STATE_COLORS, base_layout, worker_color, worker_sort_key
from .tasksview import GanttSelection, WorkerLoad, attempts, jain_index, max_min_ratio, trace_url

LOST = "lease lost: result not applied"
MARKERS = {  # event -> (legend name, symbol, color)
    "lease_expired": ("lease expired", "x-thin-open", "#d1495b"),
    "stale_ack": ("stale ack (rejected)", "diamond-open", "#e07a1f"),
    "failed": ("attempt failed", "triangle-up", "#7b5ea7"),
    "requeued": ("retry released", "circle-open", "#7b5ea7"),
    "released": ("handed back (shutdown)", "square-open", "#6c757d"),
    "dead": ("dead-lettered", "square", STATE_COLORS["dead"]),
}


def fairness_text(loads: list[WorkerLoad]) -> str:
    values = [w.succeeded for w in loads]
    jain, ratio = jain_index(values), max_min_ratio(values)
    parts = [f"Jain's index {jain:.3f}" if jain is not None else "Jain's index n/a",
             f"max/min {ratio:.2f}" if ratio is not None else "max/min n/a (a worker completed none)"]
    return " · ".join(parts)


def worker_load_figure(loads: list[WorkerLoad]) -> go.Figure:
    """Applied successes per worker (worker colors); leases lost and stale acks as markers."""
    names = [w.worker for w in loads]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=[w.succeeded for w in loads], name="succeeded",
                         marker={"color": [worker_color(n) for n in names]}, text=[w.succeeded for w in loads],
                         textposition="inside", insidetextanchor="end", width=0.6,
                         customdata=[[w.claimed, w.failed, w.leases_lost, w.stale_acks] for w in loads],
                         hovertemplate=("%{x}: %{y} succeeded<br>claims %{customdata[0]} · failed "
                                        "%{customdata[1]}<br>leases lost %{customdata[2]} · stale acks "
                                        "%{customdata[3]}<extra></extra>")))
    for key, attr in (("lease_expired", "leases_lost"), ("stale_ack", "stale_acks")):
        name, symbol, color = MARKERS[key]
        fig.add_trace(go.Scatter(x=names, y=[getattr(w, attr) for w in loads],
                                 name=name.split(" (")[0] + " (right axis)",
                                 yaxis="y2", mode="markers", marker={"symbol": symbol, "size": 12, "color": color,
                                 "line": {"width": 2, "color": color}}))
    if loads:
        mean = sum(w.succeeded for w in loads) / len(loads)
        fig.add_hline(y=mean, line={"color": "#868e96", "dash": "dash", "width": 1},
                      annotation_text="even share", annotation_position="top right")
    layout = base_layout(title=f"Completed tasks per worker — {fairness_text(loads)}", height=320,
                         x_title="worker", y_title="tasks succeeded")
    layout["hovermode"] = "closest"
    top = max([w.leases_lost for w in loads] + [w.stale_acks for w in loads] + [1])
    layout["yaxis2"] = {"title": {"text": "leases lost / stale acks"}, "overlaying": "y", "side": "right",
                        "showgrid": False, "tickmode": "linear", "tick0": 0, "dtick": max(1, -(-top // 5)),
                        "range": [0, top * 1.15]}
    layout["margin"]["r"] = 60
    layout["xaxis"]["type"] = "category"
    fig.update_layout(**layout)
    return fig


def _tick_links(tasks: list[dict[str, Any]], rows: list[str], trace_ui: str | None) -> list[str]:
    """Row labels; a traced task's label is a link to its trace (plotly renders <a> in ticks)."""
    out = []
    for task, row in zip(tasks, rows, strict=True):
        url = trace_url(task, trace_ui)
        out.append(f'<a href="{url}" target="_blank">{row}</a>' if url else row)
    return out


def _label(task: dict[str, Any]) -> str:
    return f"{str(task.get('id', '?'))[:12]} · {task.get('priority', '')[:1]}"


def gantt_figure(sel: GanttSelection, axis: Axis, trace_ui: str | None = None) -> go.Figure:
    """One row per task: a grey wait line from submit to first claim, a dotted line while the
    claimed task waited in the worker's buffer (claim to `started`), a bar per attempt's
    execution in the worker's color (faded when its lease was lost: patterns cost seconds to
    draw), markers for the events that matter. With `trace_ui` (a traced run), each row's
    label links to the task's trace in Jaeger."""
    offset = axis.tb.offset
    rows = [_label(t) for t in sel.tasks]
    bars: dict[str, dict[str, list[Any]]] = {}
    wait_x: list[float | None] = []
    wait_y: list[str | None] = []
    buf_x: list[float | None] = []
    buf_y: list[str | None] = []
    marks: dict[str, tuple[list[float], list[str], list[str]]] = {k: ([], [], []) for k in MARKERS}
    for task, row in zip(sel.tasks, rows, strict=True):
        tries = attempts(task, offset)
        sub = (task.get("submitted_at") or 0) - offset
        if tries:
            wait_x += [sub, tries[0].start, None]
            wait_y += [row, row, None]
        for a in tries:
            ran = a.start if a.began is None else min(max(a.began, a.start), a.end)
            if ran > a.start:
                buf_x += [round(a.start, 3), round(ran, 3), None]
                buf_y += [row, row, None]
            key = a.worker if a.applied else LOST
            b = bars.setdefault(key, {"base": [], "x": [], "y": [], "color": [], "text": []})
            b["base"].append(round(ran, 3))
            b["x"].append(round(max(a.end - ran, axis.tb.t1 / 2000), 3))
            b["y"].append(row)
            b["color"].append(worker_color(a.worker))
            b["text"].append(f"{task.get('id')}<br>{a.worker} token {a.token}: {a.outcome}"
                             f"<br>claimed {a.start:.2f}s, buffered {(ran - a.start) * 1000:.0f} ms, "
                             f"ran {ran:.2f}s → {a.end:.2f}s ({(a.end - ran) * 1000:.0f} ms)")
        for e in task.get("events", ()):
            if e.get("event") in marks:
                xs, ys, tx = marks[e["event"]]
                xs.append(round(e["t"] - offset, 3))
                ys.append(row)
                tx.append(f"{task.get('id')}: {e['event']} {e.get('worker') or ''} {e.get('detail') or ''}")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=wait_x, y=wait_y, mode="lines", name="waiting in queue",
                             line={"color": "#ced4da", "width": 2}, hoverinfo="skip"))
    if buf_x:
        fig.add_trace(go.Scatter(x=buf_x, y=buf_y, mode="lines", name="claimed, in a worker's buffer",
                                 line={"color": "#868e96", "width": 3, "dash": "dot"}, hoverinfo="skip"))
    # lost attempts first, so the attempt that counted is drawn over them
    for w in ([LOST] if LOST in bars else []) + sorted((w for w in bars if w != LOST), key=worker_sort_key):
        b = bars[w]
        lost = w == LOST
        fig.add_trace(go.Bar(base=b["base"], x=b["x"], y=b["y"], orientation="h", name=w,
                             marker={"color": b["color"], "opacity": 0.35 if lost else 1.0,
                                     "line": {"width": 1.5 if lost else 0, "color": b["color"]}},
                             hovertext=b["text"], hoverinfo="text", width=0.7))
    for ev, (name, symbol, color) in MARKERS.items():
        xs, ys, tx = marks[ev]
        if xs:
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=name, hovertext=tx, hoverinfo="text",
                                     marker={"symbol": symbol, "size": 10, "color": color,
                                             "line": {"width": 2, "color": color}}))
    height = max(260, 22 * len(rows) + 130)
    layout = base_layout(title="Task timeline: attempts per task, colored by worker (faded: lease lost)",
                         height=height, x_range=axis.x_range)
    layout["hovermode"] = "closest"
    layout["barmode"] = "overlay"
    layout["yaxis"] = {"type": "category", "categoryorder": "array", "categoryarray": rows[::-1],
                       "tickmode": "array", "tickvals": rows, "ticktext": _tick_links(sel.tasks, rows, trace_ui),
                       "tickfont": {"size": 10, "family": "ui-monospace, Menlo, Consolas, monospace"},
                       "gridcolor": "#f4f5f7", "automargin": True}
    return _finish(fig, axis, layout)
