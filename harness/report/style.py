"""Colors and layout defaults shared by every figure, so a priority, a worker or a fault kind
has the same color in every figure of every report (and in the compare page)."""
from __future__ import annotations

import re
from typing import Any

PRIORITY_COLORS = {"high": "#d1495b", "normal": "#2e86de", "low": "#8e9aaf"}
STATE_COLORS = {"leased": "#edae49", "delayed": "#7b5ea7", "dead": "#30343f"}
SERIES_COLORS = {"completed": "#00798c", "submitted": "#9aa5b1", "rejected": "#d1495b",
                 "unknown": "#edae49", "memory": "#00798c", "ops": "#edae49", "workers": "#30343f"}
PERCENTILE_DASH = {"p50": "dot", "p95": "dash", "p99": "solid"}
RUN_COLORS = {"A": "#2e86de", "B": "#e07a1f"}

# Colorblind-friendly qualitative palette (Okabe-Ito order, black moved last); worker-N takes
# entry N-1, so worker-2 has the same color in every report.
WORKER_PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00",
                  "#f0e442", "#6a3d9a", "#8c564b", "#17becf", "#7f7f7f", "#000000")

FAULT_COLORS = {"process": "#d1495b", "network": "#7b5ea7", "redis": "#e07a1f",
                "topology": "#2a9d8f", "load": "#2e86de", "client": "#8c564b", "clock": "#cc79a7",
                "other": "#6c757d"}
_FAULT_KIND = {
    **dict.fromkeys(("kill", "terminate", "pause", "resume", "restart"), "process"),
    **dict.fromkeys(("partition", "latency", "bandwidth", "timeout", "reset_peer", "slow_close",
                     "slicer", "limit_data", "heal"), "network"),
    **dict.fromkeys(("redis_failover", "redis_restart", "redis_kill", "redis_oom", "redis_misconf",
                     "redis_stall", "replica_pause", "client_kill"), "redis"),
    "slow_client_flood": "client",
    "clock_skew": "clock",
    "scale": "topology",
    **dict.fromkeys(("burst", "flood", "poison"), "load"),
}


def fault_color(fault: str) -> str:
    """Band color by fault family: process, network, Redis, topology, load."""
    return FAULT_COLORS[_FAULT_KIND.get(fault, "other")]


def worker_color(worker: str | None) -> str:
    """Stable color for worker-N (by its number), or a hash-stable one for other names."""
    if not worker:
        return "#adb5bd"
    m = re.search(r"(\d+)$", worker)
    index = int(m.group(1)) - 1 if m else sum(map(ord, worker))
    return WORKER_PALETTE[index % len(WORKER_PALETTE)]


def worker_sort_key(worker: str) -> tuple[str, int]:
    """worker-2 before worker-10."""
    m = re.match(r"(.*?)(\d+)$", worker)
    return (m.group(1), int(m.group(2))) if m else (worker, 0)


def hex_rgba(color: str, alpha: float) -> str:
    """'#rrggbb' -> 'rgba(r,g,b,a)' for translucent fills."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def base_layout(*, title: str, height: int = 300, x_title: str = "seconds since run start",
                x_range: tuple[float, float] | None = None, y_title: str = "") -> dict[str, Any]:
    """Layout every time figure starts from: light grid, compact margins, legend on top."""
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "yref": "container", "y": 1,
                  "yanchor": "top", "pad": {"t": 12}, "font": {"size": 15}},
        "height": height, "margin": {"l": 60, "r": 20, "t": 72, "b": 44},
        "font": {"family": FONT, "size": 12, "color": "#30343f"},
        "paper_bgcolor": "white", "plot_bgcolor": "white",
        "hovermode": "x unified",
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": 1.01, "yanchor": "bottom",
                   "font": {"size": 11}, "traceorder": "normal"},
        "xaxis": {"title": {"text": x_title}, "gridcolor": "#eceff3", "zeroline": False,
                  "showline": True, "linecolor": "#c9ced6", "ticks": "outside"},
        "yaxis": {"title": {"text": y_title}, "gridcolor": "#eceff3", "zeroline": False,
                  "rangemode": "tozero", "showline": True, "linecolor": "#c9ced6"},
        "template": "none",
    }
    if x_range is not None:
        layout["xaxis"]["range"] = list(x_range)
    return layout
