"""Summaries and the Markdown tables, from the raw records alone (no measuring here)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from benchmarks.stats import Spread, pairwise_ratios, spread

#: (scenario, metric, heading, format, better) — the figures the tables show
COLUMNS: dict[str, list[tuple[str, str, str, str]]] = {
    "drain": [("drain_per_s", "drain tasks/s", "{:,.0f}", "higher"),
              ("enqueue_per_s", "enqueue /s (single)", "{:,.0f}", "higher"),
              ("enqueue_batch_per_s", "enqueue /s (batch)", "{:,.0f}", "higher"),
              ("startup_s", "first task after start, s", "{:.2f}", "lower"),
              ("redis_cmds_per_enqueue", "Redis cmds/enqueue*", "{:.1f}", "lower"),
              ("redis_cmds_per_task_run", "Redis cmds/task run*", "{:.1f}", "lower"),
              ("redis_bytes_per_queued_task", "Redis bytes/queued task", "{:,.0f}", "lower")],
    "latency": [("p50_ms", "p50 ms", "{:.1f}", "lower"), ("p95_ms", "p95 ms", "{:.1f}", "lower"),
                ("p99_ms", "p99 ms", "{:.1f}", "lower"), ("max_ms", "max ms", "{:.0f}", "lower"),
                ("worker_rss_idle_mib", "worker RSS idle MiB", "{:.0f}", "lower")],
    "crash": [("default_recovery_s", "defaults: recovered in s", "{:.1f}", "lower"),
              ("default_lost", "defaults: lost", "{:.0f}", "lower"),
              ("short_recovery_s", "short timeouts: recovered in s", "{:.1f}", "lower"),
              ("short_lost", "short timeouts: lost", "{:.0f}", "lower"),
              ("short_duplicates", "short: duplicates", "{:.0f}", "lower")],
    "priority": [("high_wait_p50_ms", "high wait p50 ms", "{:.1f}", "lower"),
                 ("low_wait_p50_ms", "low wait p50 ms", "{:,.0f}", "lower"),
                 ("low_over_high", "low ÷ high", "{:.1f}", "higher"),
                 ("lows_queued_when_high_sent", "lows still queued when highs sent", "{:,.0f}", "higher")],
}
RATIO_METRICS = [("drain", "drain_per_s"), ("drain", "enqueue_per_s"), ("latency", "p50_ms"),
                 ("latency", "p99_ms"), ("crash", "default_recovery_s"),
                 ("priority", "high_wait_p50_ms")]


def summarise(records: list[dict]) -> dict[str, dict[str, dict[str, dict]]]:
    """system -> scenario -> metric -> {median, min, max, runs}; NaN (never recovered) is dropped."""
    values: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for rec in records:
        for metric, value in (rec.get("metrics") or {}).items():
            values[(rec["system"], rec["scenario"], metric)].append(value)
    out: dict[str, dict[str, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for (system, scenario, metric), vals in values.items():
        s = spread(vals)
        out[system][scenario][metric] = s.as_dict() if s else {"median": None, "runs": 0}
        out[system][scenario][metric]["values"] = vals
    return {k: dict(v) for k, v in out.items()}


def ratios(records: list[dict], ours: list[str], peers: list[str]) -> dict:
    """ours ÷ peer for each metric, run by run in the same run, then median and spread."""
    per_run: dict[tuple[str, str, str], dict[int, float]] = defaultdict(dict)
    for rec in records:
        for metric, value in (rec.get("metrics") or {}).items():
            per_run[(rec["system"], rec["scenario"], metric)][rec["run"]] = value
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for mine in ours:
        for peer in peers:
            row = {}
            for scenario, metric in RATIO_METRICS:
                mine_runs, theirs = per_run.get((mine, scenario, metric), {}), per_run.get((peer, scenario, metric), {})
                s = pairwise_ratios(mine_runs, theirs)
                never = (any(not _missing(v) for v in mine_runs.values()) and bool(theirs)
                         and all(_missing(v) for v in theirs.values()))
                row[f"{scenario}.{metric}"] = s.as_dict() if s else ({"note": "peer never"} if never else None)
            out.setdefault(mine, {})[peer] = row
    return out


def _missing(value: object) -> bool:
    """NaN in memory, null once written to JSON: a figure never reached (e.g. past the cap)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def cell(entry: dict | None, fmt: str) -> str:
    if entry and "note" in entry:
        return entry["note"]
    if not entry or entry.get("median") is None:
        vals = (entry or {}).get("values") or []
        return "never (cap)" if vals and all(_missing(v) for v in vals) else "–"
    med, lo, hi = entry["median"], entry["min"], entry["max"]
    text = fmt.format(med)
    if entry["runs"] > 1 and (lo != med or hi != med):
        text += f" ({fmt.format(lo)}–{fmt.format(hi)})"
    nan_runs = sum(1 for v in entry.get("values", []) if _missing(v))
    if nan_runs:
        text += f"; {nan_runs} run(s) never"
    return text


def markdown(result: dict) -> str:
    """The results section: one table per scenario, the ceiling, ratios and the load."""
    summary, meta = result["summary"], result["meta"]
    when = f"{meta['started']} to {meta.get('finished', '?')}"
    lines = [f"Command: `{meta['command']}`  ", f"Date: {when}; machine: {meta['machine']}  ",
             f"Each cell: median of {meta['runs']} run(s) (min–max). Load averages below.", ""]
    systems = [s for s in meta["systems"] if s in summary]
    for scenario, cols in COLUMNS.items():
        present = [c for c in cols if any(c[0] in summary[s].get(scenario, {}) for s in systems)]
        rows = [s for s in systems if scenario in summary[s]]
        if not rows or not present:
            continue
        lines += [f"### {scenario}", "", "| system | " + " | ".join(c[1] for c in present) + " |",
                  "|---" * (len(present) + 1) + "|"]
        for s in rows:
            lines.append(f"| {s} | " + " | ".join(cell(summary[s][scenario].get(c[0]), c[2])
                                                 for c in present) + " |")
        lines.append("")
        if scenario == "drain":
            lines += ["\\* commands Redis executed (INFO total_commands_processed, including those run "
                      "inside Lua scripts and the bench task's own INCR) divided by tasks; "
                      "the driver's polling is subtracted.", ""]
        if scenario == "crash":
            lines += ["'lost' = not done within the cap "
                      f"({meta['sizes']['crash_cap']:.0f} s after the kill).", ""]
    lines += _ceiling_lines(result.get("ceiling_summary") or {})
    lines += ["### settings", ""]
    for name, items in meta.get("settings", {}).items():
        lines += [f"- **{name}**: " + "; ".join(items)]
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    lines += ["", f"Versions: {versions}", ""]
    lines += _ratio_lines(result.get("ratios") or {})
    lines += ["### load average (1, 5, 15 min) when each measurement started", ""]
    for rec in result["records"]:
        load = ", ".join(f"{x:.2f}" for x in rec["loadavg"])
        status = "" if rec.get("error") is None else f" — error: {rec['error']}"
        lines.append(f"- run {rec['run'] + 1} {rec['system']} {rec['scenario']}: {load}{status}")
    return "\n".join(lines) + "\n"


def _ceiling_lines(ceiling: dict) -> list[str]:
    if not ceiling:
        return []
    lines = ["### ceiling: redis-benchmark (50 clients) on the same server", "",
             "| command | unpipelined /s | 16-deep pipeline /s |", "|---|---|---|"]
    for test in ("set", "get", "lpush", "lpop"):
        lines.append(f"| {test.upper()} | {cell(ceiling.get(f'{test}_per_s'), '{:,.0f}')} | "
                     f"{cell(ceiling.get(f'{test}_p16_per_s'), '{:,.0f}')} |")
    return lines + [""]


def _ratio_lines(table: dict) -> list[str]:
    lines = []
    for mine, peers in table.items():
        metrics = [f"{s}.{m}" for s, m in RATIO_METRICS]
        lines += [f"### ratios {mine} ÷ peer (same run, pair by pair)", "",
                  "| peer | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
        for peer, row in peers.items():
            lines.append(f"| {peer} | " + " | ".join(cell(row.get(m), "{:.2f}") for m in metrics) + " |")
        lines.append("")
    return lines


def ceiling_summary(ceilings: list[dict]) -> dict[str, dict]:
    keys = {k for c in ceilings for k in c["metrics"]}
    out = {}
    for k in sorted(keys):
        s: Spread | None = spread(c["metrics"].get(k) for c in ceilings)
        if s:
            out[k] = s.as_dict()
    return out
