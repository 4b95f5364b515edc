"""HTML page assembly shared by the run report and the compare page: CSS, plotly.js inlined
once, figure data as JSON blocks, a render loop that reports failures on the page, and
synchronised zoom across every figure on the shared time axis.

Why inline plotly.js: a report must open from disk with no network, also when a CI system
archives one run directory alone; a shared copy next to the reports would break that. The
inlined bundle is plotly.js "basic" (vendor/, MIT), which holds every trace type used here.
"""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs, get_plotlyjs_version


@dataclass(frozen=True)
class FigureBlock:
    """One figure on a page: anchor id, figure, caption, and whether it shares the time axis."""

    id: str
    figure: go.Figure
    caption: str = ""
    shared_x: bool = True


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


VENDORED = Path(__file__).with_name("vendor") / "plotly-basic.min.js"


def bundle_version(js: str) -> str | None:
    """'4.1.1' from the banner of a plotly.js bundle."""
    m = re.search(r"plotly\.js(?: \([^)]*\))? v(\d+\.\d+\.\d+)", js[:400])
    return m.group(1) if m else None


@lru_cache(maxsize=1)
def plotly_js() -> str:
    """The plotly.js to inline: the vendored 'basic' bundle (scatter + bar: all the report
    uses; 1.2 MB, parses ~5x faster than the full 4.8 MB one) when it is the same plotly.js
    version as the Python package's, else the full bundle the Python package ships."""
    if VENDORED.is_file():
        js = VENDORED.read_text(encoding="utf-8")
        if bundle_version(js) == get_plotlyjs_version():
            return js
    return get_plotlyjs()


def marker(figure_id: str) -> str:
    """Placeholder in a page body where render_page puts that figure."""
    return "{{figure:" + figure_id + "}}"


def figure_html(block: FigureBlock) -> str:
    """A card with the figure's div, its JSON (script-safe) and caption."""
    data = pio.to_json(block.figure, validate=False, pretty=False).replace("</", "<\\/")
    shared = " data-shared-x" if block.shared_x else ""
    caption = f'<p class="caption">{block.caption}</p>' if block.caption else ""
    return (f'<section class="card fig-card" id="{esc(block.id)}">'
            f'<div class="figure" data-fig="{esc(block.id)}"{shared}></div>{caption}'
            f'<script type="application/json" id="fig-data-{esc(block.id)}">{data}</script></section>')


def render_page(*, title: str, body: str, figures: Sequence[FigureBlock] = ()) -> str:
    """The whole document. `body` is trusted HTML built with esc(); figures go where the
    body holds the marker {{figure:ID}} (figures without a marker are appended)."""
    for block in figures:
        here = marker(block.id)
        body = body.replace(here, figure_html(block)) if here in body else body + figure_html(block)
    plotly = f"<script>{plotly_js()}</script>" if figures else ""
    return (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{esc(title)}</title><style>{CSS}</style>"
            f"<script>{ERROR_HOOK}</script></head><body>"
            f"<div id=\"js-errors\" class=\"js-errors\" hidden></div>"
            f"<main>{body}</main>{plotly}<script>{RENDER_JS}</script></body></html>")


def write_page(path: Path, text: str) -> None:
    """Write atomically, so a browser never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# Errors are collected before anything else runs and shown in a banner (and counted in
# body[data-js-errors], which the browser test reads from the dumped DOM).
ERROR_HOOK = """
window.__reportErrors = [];
window.__showErrors = function () {
  var box = document.getElementById('js-errors');
  document.body && (document.body.dataset.jsErrors = String(window.__reportErrors.length));
  if (!box || !window.__reportErrors.length) return;
  box.hidden = false;
  box.textContent = 'This page hit JavaScript errors: ' + window.__reportErrors.join(' | ');
};
window.addEventListener('error', function (e) {
  window.__reportErrors.push(String(e.message || e)); window.__showErrors();
});
window.addEventListener('unhandledrejection', function (e) {
  window.__reportErrors.push('unhandled rejection: ' + String(e.reason)); window.__showErrors();
});
"""

RENDER_JS = """
(function () {
  var divs = Array.prototype.slice.call(document.querySelectorAll('div.figure[data-fig]'));
  document.body.dataset.figures = String(divs.length);
  if (divs.length && typeof Plotly === 'undefined') {
    window.__reportErrors.push('plotly.js did not load'); window.__showErrors(); return;
  }
  var config = {responsive: true, displaylogo: false, modeBarButtonsToRemove: ['lasso2d', 'select2d']};
  var started = performance.now();
  // One figure per task, yielding in between: the header and the first figures show at once.
  function renderOne(div) {
    return new Promise(function (resolve) {
      setTimeout(function () {
        try {
          var spec = JSON.parse(document.getElementById('fig-data-' + div.dataset.fig).textContent);
          Plotly.newPlot(div, spec.data, spec.layout, config).then(resolve, function (err) {
            window.__reportErrors.push(div.dataset.fig + ': ' + err); resolve();
          });
        } catch (err) {
          window.__reportErrors.push(div.dataset.fig + ': ' + err); resolve();
        }
      }, 0);
    });
  }
  divs.reduce(function (chain, div) {
    return chain.then(function () { return renderOne(div); });
  }, Promise.resolve()).then(function () {
    document.body.dataset.rendered = String(document.querySelectorAll('.js-plotly-plot').length);
    document.body.dataset.renderMs = String(Math.round(performance.now()));
    document.body.dataset.figuresMs = String(Math.round(performance.now() - started));
    syncTimeAxes();
    window.__showErrors();
  });
  function xKeys(div) {
    return Object.keys(div.layout).filter(function (k) { return /^xaxis\\d*$/.test(k); });
  }
  function syncTimeAxes() {
    var shared = divs.filter(function (d) { return d.hasAttribute('data-shared-x') && d.on; });
    var busy = false;
    shared.forEach(function (src) {
      src.on('plotly_relayout', function (ev) {
        if (busy) return;
        var touched = Object.keys(ev || {}).some(function (k) { return /^xaxis\\d*\\.(range|autorange)/.test(k); });
        if (!touched) return;
        var range = src._fullLayout.xaxis.range.slice();
        busy = true;
        Promise.all(shared.filter(function (d) { return d !== src; }).map(function (d) {
          var upd = {};
          xKeys(d).forEach(function (k) { upd[k + '.range'] = range; });
          return Plotly.relayout(d, upd);
        })).then(function () { busy = false; }, function () { busy = false; });
      });
    });
  }
})();
"""

CSS = """
:root { --fg:#30343f; --muted:#6c757d; --line:#e3e6ea; --bg:#f6f7f9; --ok:#2b8a3e; --bad:#c92a2a;
  --okbg:#ebfbee; --badbg:#fff5f5; --warn:#e67700; --mono: ui-monospace, Menlo, Consolas, monospace; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.45 -apple-system, BlinkMacSystemFont,
  'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 16px 20px 60px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 0 0 10px; }
a { color: #1c6dd0; text-decoration: none; } a:hover { text-decoration: underline; }
code, pre, .mono { font-family: var(--mono); font-size: 12.5px; }
pre { background:#f1f3f5; padding:10px 12px; border-radius:6px; overflow-x:auto; margin:6px 0; }
.card { background:#fff; border:1px solid var(--line); border-radius:10px; padding:14px 16px; margin:14px 0;
  box-shadow: 0 1px 2px rgba(0,0,0,.03); }
.fig-card { padding: 8px 8px 4px; } .figure { width:100%; }
.caption { color:var(--muted); margin:2px 10px 8px; font-size:13px; }
.verdict { display:flex; gap:18px; align-items:flex-start; justify-content:space-between; flex-wrap:wrap; }
.badge { display:inline-block; padding:4px 12px; border-radius:999px; font-weight:700; letter-spacing:.04em;
  font-size:13px; color:#fff; }
.badge.pass { background:var(--ok); } .badge.fail { background:var(--bad); } .badge.unknown { background:var(--warn); }
.verdict.pass { border-left: 6px solid var(--ok); } .verdict.fail { border-left: 6px solid var(--bad); }
.verdict.unknown { border-left: 6px solid var(--warn); }
.desc { white-space: pre-wrap; margin: 6px 0 0; max-width: 90ch; }
.meta { display:grid; grid-template-columns: max-content 1fr; gap: 2px 12px; font-size: 13px; margin: 8px 0 0; }
.meta dt { color: var(--muted); } .meta dd { margin: 0; }
.kpis { display:grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap:10px; margin-top:12px; }
.kpi { border:1px solid var(--line); border-radius:8px; padding:8px 10px; background:#fcfcfd; }
.kpi .v { font-size: 20px; font-weight: 650; } .kpi .k { color: var(--muted); font-size: 12px; }
.look { background:#f3f8ff; border-color:#cfe2ff; } .look h2 { color:#1c4f9c; }
nav.toc { position: sticky; top: 0; z-index: 5; background: rgba(246,247,249,.96); padding: 8px 0;
  border-bottom:1px solid var(--line); font-size: 13px; display:flex; flex-wrap:wrap; gap: 4px 14px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align:left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: var(--badbg); } tr.passed td:first-child { color: var(--ok); }
tr.failed td:first-child { color: var(--bad); font-weight: 700; }
.obs { font-family: var(--mono); font-size: 12px; max-width: 360px; overflow-wrap: anywhere; }
.see a { margin-right: 8px; white-space: nowrap; }
.muted { color: var(--muted); } .small { font-size: 12px; }
.swatch { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:5px; vertical-align:-1px; }
.js-errors { background: var(--bad); color: #fff; padding: 10px 16px; font-weight: 600; }
.notice { background:#fff9db; border:1px solid #ffe066; border-radius:8px; padding:8px 12px; margin:10px 0; }
.copy { margin-left: 8px; font-size: 12px; cursor: pointer; border:1px solid var(--line); background:#fff;
  border-radius: 5px; padding: 2px 8px; }
.grid2 { display:grid; grid-template-columns: 1fr 1fr; gap: 14px; }
@media (max-width: 900px) { .grid2 { grid-template-columns: 1fr; } }
details summary { cursor: pointer; color: var(--muted); }
"""
