"""Assemble a run's report.html: load the run, build every figure, lay out the sections."""
from __future__ import annotations

from pathlib import Path

from .faultsummary import fault_impacts
from .figures_tasks import gantt_figure, worker_load_figure
from .figures_time import (
    Axis,
    latency_figure,
    queue_figure,
    redis_figure,
    throughput_figure,
    worker_rate_figure,
    workers_figure,
)
from .keyfigs import merged_figures
from .page import FigureBlock, marker, render_page, write_page
from .rundata import Run, load_run
from .sections import checks_html, counts_html, details_html, faults_html, look_html, toc_html, verdict_html
from .series import completion_times, fault_spans, load_window, phase_marks, task_latencies, timebase
from .tasksview import GanttSelection, select_gantt, worker_loads


def figure_blocks(run: Run) -> list[FigureBlock]:
    """Every figure of the report, in page order (ids are the anchors checks link to)."""
    tb = timebase(run)
    axis = Axis(tb=tb, spans=fault_spans(run, t1=tb.t1), phases=phase_marks(run))
    has_samples = bool(run.records("sample"))
    blocks = [FigureBlock("throughput", throughput_figure(run, axis),
                          "Applied completions per second against accepted submits. A gap between the "
                          "two lines is work piling up; shaded bands are faults.")]
    if has_samples:
        blocks.append(FigureBlock("queues", queue_figure(run, axis),
                                  "Sampled every ~250 ms. Leased = claimed (reserved in a buffer or running); "
                                  "delayed = waiting for a retry backoff; dead = in the dead-letter queue."))
        blocks.append(FigureBlock("workers", workers_figure(run, axis),
                                  "Workers with a fresh heartbeat, and the elected leader (the one running "
                                  "the lease reaper and retry release)."))
    if run.tasks:
        blocks.append(FigureBlock("latency", latency_figure(run, axis),
                                  "Per priority: dotted p50, dashed p95, solid p99. Click a legend entry to "
                                  "hide it; 'each task' shows individual latencies."))
    if has_samples:
        blocks.append(FigureBlock("redis", redis_figure(run, axis)))
    if run.tasks:
        blocks.append(FigureBlock("worker-rate", worker_rate_figure(run, axis),
                                  "Who picked up the work: a worker's line drops to zero while it is killed, "
                                  "paused or cut off, and the others rise."))
        loads = worker_loads(run.tasks)
        blocks.append(FigureBlock("worker-load", worker_load_figure(loads),
                                  "Competing consumers balance load by pulling. Jain's index is 1 for a "
                                  "perfectly even split; workers added or killed mid-run naturally did less.",
                                  shared_x=False))
        sel = select_gantt(run.tasks, run.results)
        blocks.append(FigureBlock("gantt", gantt_figure(sel, axis, (run.meta.get("tracing") or {}).get("ui")),
                                  f"{len(sel.tasks)} of {sel.total} tasks: {sel.named} named by failed checks, "
                                  f"{_eventful_count(sel)} with retries, lease expiries, stale acks or dead-lettering, "
                                  f"{sel.sampled} sampled evenly. Faded bars: attempts whose lease was lost "
                                  "(their result was not applied)."))
    return blocks


def _eventful_count(sel: GanttSelection) -> str:
    """How many eventful tasks are drawn: all of them, or an even spread past EVENTFUL_LIMIT."""
    if sel.eventful_total > sel.eventful:
        return f"{sel.eventful} (spread evenly over {sel.eventful_total})"
    return str(sel.eventful)


def render_report(run: Run) -> str:
    """The report page of a loaded run, as one HTML string."""
    blocks = figure_blocks(run)
    tb = timebase(run)
    impacts = fault_impacts(fault_spans(run, t1=tb.t1), completion_times(run, tb), run.tasks,
                            offset=tb.offset, load=load_window(run, tb), t1=tb.t1,
                            latencies=task_latencies(run, tb))
    present = [b.id for b in blocks]
    gantt_named = select_gantt(run.tasks, run.results).named if run.tasks else 0
    body = (verdict_html(run, merged_figures(run)) + toc_html(present)
            + checks_html(run, set(present) | {"faults", "counts"}, gantt_named)
            + look_html(run, impacts) + faults_html(impacts)
            + "".join(marker(b.id) for b in blocks)
            + counts_html(run) + details_html(run))
    verdict = "PASSED" if (run.results or {}).get("passed") is True else "FAILED" if run.results else "no results"
    return render_page(title=f"{run.name} — {verdict}", body=body, figures=blocks)


def build_report(run_dir: Path) -> Path:
    """Write run_dir/report.html from the recorded files; returns its path."""
    run = load_run(Path(run_dir))
    out = Path(run_dir) / "report.html"
    write_page(out, render_report(run))
    return out
