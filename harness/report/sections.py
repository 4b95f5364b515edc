"""HTML sections of a run report (pure: values in, escaped HTML out)."""
from __future__ import annotations

import json
import re
import shlex
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import yaml

from .faultsummary import FaultImpact
from .keyfigs import LABELS, fmt
from .page import esc
from .rundata import Run
from .series import task_counts
from .style import fault_color

# check name (substring) -> figures that explain it, first match wins
CHECK_FIGURES = (
    ("baseline", ("throughput", "latency", "faults")),
    ("lost", ("counts", "gantt", "queues")),
    ("conservation", ("counts", "queues")),
    ("duplicate", ("gantt", "worker-load")),
    ("stale", ("gantt", "worker-load")),
    ("all_done", ("queues", "throughput")),
    ("priority", ("latency", "queues")),
    ("latency", ("latency", "gantt")),
    ("throughput_after", ("throughput", "faults")),
    ("recovery", ("faults", "throughput")),
    ("throughput", ("throughput", "worker-rate")),
    ("dlq", ("queues", "gantt")),
    ("dead", ("queues", "gantt")),
    ("leader", ("workers",)),
    ("steady", ("workers", "throughput")),
    ("results_correct", ("gantt",)),
    ("run_time", ("gantt",)),
    ("faults_", ("faults", "gantt")),
)
FIGURE_TITLES = {"throughput": "throughput", "queues": "queue depth", "workers": "workers & leader",
                 "latency": "latency", "redis": "Redis", "worker-rate": "per-worker rate",
                 "worker-load": "load balancing", "gantt": "task timeline", "faults": "fault table",
                 "counts": "task counts"}


def verdict_class(passed: Any) -> str:
    return "pass" if passed is True else "fail" if passed is False else "unknown"


def _verdict_word(run: Run) -> str:
    if run.results is None:
        return "NO RESULTS"
    return {"pass": "PASSED", "fail": "FAILED", "unknown": "UNKNOWN"}[verdict_class(run.results.get("passed"))]


def rerun_command(run: Run) -> str:
    """`harness run <this scenario> --backend B --seed N`: the recorded command line, narrowed
    to this run's scenario file, with the recorded seed (so a random schedule replays)."""
    cmd = run.meta.get("command") or run.meta.get("argv") or []
    args = shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
    yamls = [a for a in args if a.endswith((".yaml", ".yml"))]
    mine = [a for a in yamls if a.rsplit("/", 1)[-1].rsplit(".", 1)[0] == run.name]
    source = (mine or yamls[:1] or [str(run.scenario.get("source") or "")])[0]
    if not source:
        source = str(run.run_dir / "scenario.yaml") if run.run_dir else f"scenarios/{run.name}.yaml"
    out = ["harness", "run", source, "--backend", str(run.meta.get("backend", "local"))]
    seed = run.meta.get("seed", run.scenario.get("seed"))
    if seed is not None:
        out += ["--seed", str(seed)]
    return shlex.join(out)


def started_text(meta: dict[str, Any]) -> str | None:
    """The run's start as 'YYYY-mm-dd HH:MM:SS UTC' from the recorded epoch, if any."""
    when = meta.get("started_at", meta.get("start_wall"))
    if not isinstance(when, (int, float)):
        return None
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def short_versions(versions: Any) -> str:
    """'python 3.11.7 · redis 7.0.15 · ...': the first version number of each component."""
    if not isinstance(versions, dict):
        return str(versions or "—")
    parts = []
    for k, v in versions.items():
        m = re.search(r"\d+\.\d+(?:\.\d+)?", str(v))
        parts.append(f"{k} {m.group(0) if m else str(v).split()[-1] if str(v).split() else v}")
    return " · ".join(parts) or "—"


def verdict_html(run: Run, figures: dict[str, float | None]) -> str:
    """Header: verdict badge, scenario, first paragraph of the description, meta, key figures."""
    klass = verdict_class((run.results or {}).get("passed"))
    desc = str(run.scenario.get("description") or "").strip()
    first = re.split(r"(?<=[.!?])\s", desc.strip(), maxsplit=1)[0] if desc else ""
    meta = run.meta
    versions = meta.get("versions") or {}
    rows = [("backend", meta.get("backend", "—")), ("seed", meta.get("seed", run.scenario.get("seed", "—"))),
            ("started", started_text(meta) or (run.run_dir.name if run.run_dir else "—")),
            ("duration", fmt("duration_s", figures.get("duration_s"))),
            ("versions", short_versions(versions))]
    full = json.dumps(versions, default=str) if versions else ""
    dl = "".join(f'<dt>{esc(k)}</dt><dd{f" title={chr(34)}{esc(full)}{chr(34)}" if k == "versions" else ""}>'
                 f"{esc(v)}</dd>" for k, v in rows)
    kpis = "".join(f'<div class="kpi"><div class="v">{esc(fmt(k, figures.get(k)))}</div>'
                   f'<div class="k">{esc(LABELS[k])}</div></div>'
                   for k in ("throughput", "p50_latency_ms", "p99_latency_ms", "recovery_time_s", "accepted",
                             "succeeded", "dead", "stale_acks"))
    checks = (run.results or {}).get("checks") or []
    n_ok = sum(1 for c in checks if c.get("passed") is True)
    cmd = rerun_command(run)
    return (f'<header class="card verdict {klass}"><div style="flex:1 1 560px;min-width:320px">'
            f'<div class="muted small">chaos run report</div>'
            f'<h1>{esc(run.name)} <span class="badge {klass}">{_verdict_word(run)}</span></h1>'
            f'<div class="muted">{n_ok} of {len(checks)} checks passed</div>'
            f'<p class="desc">{esc(first)}</p>'
            f'<div class="small muted" style="margin-top:8px">re-run exactly: '
            f'<button class="copy" onclick="navigator.clipboard&&navigator.clipboard.writeText('
            f'this.nextElementSibling.textContent)">copy</button>'
            f'<pre id="rerun">{esc(cmd)}</pre></div></div>'
            f'<dl class="meta" style="flex:0 1 420px">{dl}</dl></header><div class="kpis">{kpis}</div>')


def toc_html(present: list[str]) -> str:
    items = [("checks", "checks"), ("look", "what to look at"), ("faults", "faults")]
    items += [(f, FIGURE_TITLES[f]) for f in present]
    items += [("counts", "task counts"), ("details", "run details")]
    return '<nav class="toc">' + "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in items) + "</nav>"


def compact(value: Any, limit: int = 6) -> str:
    if isinstance(value, list):
        shown = ", ".join(compact(v, limit) for v in value[:limit])
        return f"[{shown}{f', … {len(value) - limit} more' if len(value) > limit else ''}]"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {compact(v, limit)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def check_links(name: str, present: set[str]) -> list[str]:
    for key, figs in CHECK_FIGURES:
        if key in name:
            return [f for f in figs if f in present]
    return []


def checks_html(run: Run, present: set[str], named_in_gantt: int) -> str:
    """The checks table; a failed check links to the figures (and tasks) that explain it."""
    checks = (run.results or {}).get("checks")
    if checks is None:
        return ('<section class="card" id="checks"><h2>Checks</h2><p class="notice">No results.json: '
                'the run stopped before the check phase. Figures below show what was recorded.</p></section>')
    rows = []
    for c in checks:
        k = verdict_class(c.get("passed"))
        icon = {"pass": "✔ pass", "fail": "✘ FAIL", "unknown": "? unknown"}[k]
        links = check_links(str(c.get("name", "")), present)
        if k != "pass" and "gantt" in links and named_in_gantt:
            links = links + ["gantt-named"]
        see = "".join(f'<a href="#{"gantt" if f == "gantt-named" else f}">'
                      f'{esc("its tasks" if f == "gantt-named" else FIGURE_TITLES[f])}</a>' for f in links)
        rows.append(f'<tr class="{"passed" if k == "pass" else "failed"}"><td>{icon}</td>'
                    f'<td class="mono">{esc(c.get("name"))}</td><td class="obs">{esc(compact(c.get("expected")))}</td>'
                    f'<td class="obs">{esc(compact(c.get("observed")))}</td><td>{esc(c.get("explanation", ""))}</td>'
                    f'<td class="see">{see}</td></tr>')
    return ('<section class="card" id="checks"><h2>Checks</h2><table><thead><tr><th>result</th><th>check</th>'
            '<th>expected</th><th>observed</th><th>explanation</th><th>see</th></tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></section>")


def _rate(v: float | None) -> str:
    return "—" if v is None else f"{v:.1f}/s"


def faults_html(impacts: list[FaultImpact]) -> str:
    """Per fault: when, what changed in throughput and latency, recovery, redeliveries, stale acks."""
    if not impacts:
        return '<section class="card" id="faults"><h2>Faults</h2><p class="muted">No faults in this run.</p></section>'
    rows = []
    for i in impacts:
        s = i.span
        when = f"{s.start:.1f}s → {s.end:.1f}s" if s.end is not None else f"{s.start:.1f}s → (not healed)"
        if s.late and s.requested is not None:
            when += f" LATE: asked for {s.requested:.1f}s, took effect {s.start - s.requested:.1f}s after"
        rec = ("no dip" if i.recovery_s == 0 else f"{i.recovery_s:.1f} s" if i.recovery_s is not None
               else "not recovered" if i.before else "—")
        detail = compact({k: v for k, v in s.detail.items() if v not in (None, {}, [])})
        rows.append(f'<tr><td><span class="swatch" style="background:{fault_color(s.fault)}"></span>'
                    f'<b>{esc(s.fault)}</b> <span class="mono">{esc(s.target)}</span>'
                    f'<div class="muted small">{esc(detail if detail != "—" else "")}</div></td>'
                    f'<td class="mono">{esc(when)}</td><td class="num">{_rate(i.before)}</td>'
                    f'<td class="num">{_rate(i.during)}</td><td class="num">{_rate(i.after)}</td>'
                    f'<td class="num">{esc(rec)}</td><td class="num">{i.redelivered}</td>'
                    f'<td class="num">{i.stale_acks}</td>'
                    f'<td class="num">{esc(fmt("p99_latency_ms", i.p99_before_ms))} → '
                    f'{esc(fmt("p99_latency_ms", i.p99_during_ms))}</td></tr>')
    return ('<section class="card" id="faults"><h2>Faults: what changed</h2><table><thead><tr>'
            '<th>fault</th><th>active</th><th class="num">thr. before</th><th class="num">during</th>'
            '<th class="num">after</th><th class="num">recovery</th><th class="num">redelivered</th>'
            '<th class="num">stale acks</th><th class="num">p99 before → during</th></tr></thead><tbody>'
            + "".join(rows) + '</tbody></table><p class="caption">Times are when each fault took effect '
            '(the process gone, the toxic in place, the primary down); a fault that took effect later than '
            'the tolerance (0.5 s by default, `--late-after`) after its scheduled time is marked LATE. '
            'Throughput = applied completions per second '
            '(10 s windows). Recovery = from the fault start until throughput is back to 80 % of the '
            'rate in the 5 s before it, as in results.json ("no dip": it never fell below). '
            'Redelivered = lease expiries and tasks '
            'handed back, stale acks = late results rejected by fencing, both counted from the fault start '
            'until the next fault. p99 = latency of tasks submitted before / during the fault.</p></section>')


def look_html(run: Run, impacts: list[FaultImpact]) -> str:
    """The scenario's own guidance, then observations generated from this run's data."""
    desc = str(run.scenario.get("description") or "").strip()
    notes = []
    for i in impacts:
        s = i.span
        bits = [f"<b>{esc(s.label)}</b> at {s.start:.1f} s"]
        if i.before and i.during is not None:
            change = (i.during - i.before) / i.before * 100
            bits.append(f"throughput {i.before:.1f}/s → {i.during:.1f}/s during it ({change:+.0f} %)")
        if i.recovery_s:
            bits.append(f"back to 80 % of the rate before after {i.recovery_s:.1f} s")
        elif i.before and not i.recovered:
            bits.append("throughput did not recover before the load ended")
        if i.redelivered:
            bits.append(f"{i.redelivered} task(s) redelivered after their lease was lost")
        if i.stale_acks:
            bits.append(f"{i.stale_acks} stale ack(s) rejected by fencing")
        notes.append("<li>" + "; ".join(bits) + "</li>")
    body = f'<p class="desc">{esc(desc)}</p>' if desc else '<p class="muted">The scenario has no description.</p>'
    if notes:
        body += '<h2 style="margin-top:12px">In this run</h2><ul>' + "".join(notes) + "</ul>"
    return f'<section class="card look" id="look"><h2>What to look at</h2>{body}</section>'


def counts_html(run: Run) -> str:
    """Conservation of tasks: submits by outcome, task statuses, and delivery events."""
    outcomes = Counter(s.get("outcome") for s in run.records("submit"))
    status, events = task_counts(run)
    left = [("submits accepted (ok)", outcomes.get("ok", 0)), ("rejected (fail)", outcomes.get("fail", 0)),
            ("outcome unknown (info)", outcomes.get("info", 0)), ("task records read back", len(run.tasks))]
    left += [(f"status {k}", v) for k, v in sorted(status.items(), key=lambda kv: -kv[1])]
    right = [(k.replace("_", " "), events.get(k, 0)) for k in
             ("claimed", "succeeded", "failed", "retry_scheduled", "lease_expired", "stale_ack", "released",
              "dead", "cancelled", "redriven")]
    missing = (f'<p class="notice">Missing from the run directory: {esc(", ".join(run.missing))}.</p>'
               if run.missing else "")
    if run.tasks and not any(t.get("events") for t in run.tasks):
        missing += ('<p class="notice">The task records carry no event history, so retries, lease expiries '
                    'and stale acks cannot be shown; the task timeline shows one attempt per task.</p>')
    return (f'<section class="card" id="counts"><h2>Task counts</h2>{missing}<div class="grid2">'
            f'<div><div class="muted small">submits and final states</div>{_table(left)}</div>'
            f'<div><div class="muted small">task events (all attempts)</div>{_table(right)}</div></div></section>')


def _table(rows: list[tuple[str, int]]) -> str:
    return "<table>" + "".join(f'<tr><td>{esc(k)}</td><td class="num">{v:,}</td></tr>' for k, v in rows) + "</table>"


def details_html(run: Run) -> str:
    scenario = yaml.safe_dump(run.scenario, sort_keys=False) if run.scenario else "(scenario.yaml missing)"
    return (f'<section class="card" id="details"><h2>Run details</h2>'
            f'<details><summary>scenario.yaml as run</summary><pre>{esc(scenario)}</pre></details>'
            f'<details><summary>meta.json</summary><pre>{esc(json.dumps(run.meta, indent=2, default=str))}'
            f'</pre></details><p class="muted small">Files: {esc(run.run_dir or "")}</p></section>')
