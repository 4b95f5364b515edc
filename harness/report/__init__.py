"""Reports of chaos runs: one self-contained Plotly page per run, an index of runs, a compare
page and baseline regression checks. The only package of the project that imports plotly."""
from .baseline import DEFAULT_THRESHOLD, baseline_checks, load_baseline
from .build import build_report, render_report
from .compare import compare_runs
from .index import update_index
from .keyfigs import key_figures

__all__ = ["DEFAULT_THRESHOLD", "baseline_checks", "build_report", "compare_runs", "key_figures",
           "load_baseline", "render_report", "update_index"]
