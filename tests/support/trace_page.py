"""A trace from Jaeger's HTTP API drawn as a waterfall page, for docs/tracing-screenshot.png.

The Jaeger built offline has no web UI (its assets are not in the Go module, docs/tracing.md),
so the screenshot shows the same data Jaeger's API returned, drawn here: one row per span
(service, operation, bar on the trace's time axis, events as ticks).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any


def waterfall_html(trace: dict[str, Any], title: str) -> str:
    spans = sorted(trace["spans"], key=lambda s: s["startTime"])
    t0 = spans[0]["startTime"]
    t1 = max(s["startTime"] + s["duration"] for s in spans)
    width = max(1, t1 - t0)
    rows = []
    for span in spans:
        service = trace["processes"][span["processID"]]["serviceName"]
        tags = {t["key"]: t["value"] for t in span.get("tags", [])}
        left = 100 * (span["startTime"] - t0) / width
        bar = max(0.3, 100 * span["duration"] / width)
        error = tags.get("otel.status_code") == "ERROR" or tags.get("error") is True
        ticks = "".join(
            f'<i title="{html.escape(log_name(log))}" style="left:{100 * (log["timestamp"] - t0) / width:.2f}%"></i>'
            for log in span.get("logs", []))
        names = ", ".join(log_name(log) for log in span.get("logs", []))
        extra = " · rebuilt by the next attempt" if tags.get("taskq.reconstructed") else ""
        label = (f'{html.escape(service)} <b>{html.escape(span["operationName"])}</b>'
                 f'{" · " + html.escape(str(tags["taskq.worker.id"])) if "taskq.worker.id" in tags else ""}{extra}')
        rows.append(f'<div class="row"><div class="name">{label}<small>{html.escape(names)}</small></div>'
                    f'<div class="lane"><span class="bar{" err" if error else ""} {service}" '
                    f'style="left:{left:.2f}%;width:{bar:.2f}%"></span>{ticks}</div>'
                    f'<div class="dur">{span["duration"] / 1000:.1f} ms</div></div>')
    return f"""<!doctype html><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:13px system-ui,sans-serif;margin:16px;color:#212529}}h1{{font-size:16px}}
.row{{display:grid;grid-template-columns:420px 1fr 80px;gap:8px;border-bottom:1px solid #eee;padding:4px 0}}
.name small{{display:block;color:#6c757d}}.lane{{position:relative;height:28px;background:#f8f9fa}}
.bar{{position:absolute;top:6px;height:16px;border-radius:2px;background:#4c6ef5}}
.bar.taskq-worker{{background:#37b24d}}.bar.err{{background:#e8590c}}
.lane i{{position:absolute;top:2px;width:2px;height:24px;background:#212529}}.dur{{text-align:right}}</style>
<h1>{html.escape(title)}</h1><p>trace {html.escape(trace["traceID"])} · {len(spans)} spans ·
{(t1 - t0) / 1e6:.2f} s · data from Jaeger's <code>/api/traces/&lt;id&gt;</code> (drawn here: the offline
Jaeger build has no web UI); ticks are span events, orange spans ended in error</p>
{"".join(rows)}"""


def log_name(log: dict[str, Any]) -> str:
    fields = {f["key"]: f["value"] for f in log.get("fields", [])}
    return str(fields.get("event", "event"))


def save_screenshot(traces: list[tuple[str, dict[str, Any]]], out: Path) -> Path | None:
    """Draw the traces on one page and screenshot it with headless Chromium (None without it)."""
    from tests.browser.cdp import Browser, find_chromium

    chromium = find_chromium()
    if chromium is None:
        return None
    page = out.with_suffix(".html")
    page.write_text("".join(waterfall_html(trace, title) for title, trace in traces))
    try:
        with Browser(chromium, width=1400, height=600) as browser:
            browser.open(page.resolve().as_uri(), ready="document.readyState === 'complete'")
            return browser.screenshot(out)
    finally:
        page.unlink()
