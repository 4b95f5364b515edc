// The live dashboard. One server-sent event stream (/dashboard/stream) brings a frame a second;
// the dead-letter queue and task records come from the JSON API. No framework, no CDN: text from
// the queue (errors, ids, payloads) only ever goes into textContent, never into markup.
"use strict";

const SPAN_S = 300;            // chart window, as the server's
const STALE_HEARTBEAT_S = 3;   // a heartbeat older than this is shown as late
// `harness up` prints a dashboard URL carrying the API token in its hash (never sent to a server;
// chaos.js then clears the hash from the address bar).
const hashToken = new URLSearchParams(location.hash.slice(1)).get("token");
if (hashToken) sessionStorage.setItem("taskq-token", hashToken);
const state = { points: [], dead: null, lastFrame: 0, token: sessionStorage.getItem("taskq-token") || "" };

const $ = (id) => document.getElementById(id);

function headers(extra = {}) {
  const h = { ...extra };
  if (state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

function needToken() {
  $("auth").hidden = false;
  setConn("token needed", "bad");
}

async function api(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  const res = await fetch(path, init);
  if (res.status === 401 || res.status === 403) { needToken(); throw new Error("not authorised"); }
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error((data.error && data.error.message) || res.status + " " + res.statusText);
  return data;
}

function setConn(text, cls) {
  const el = $("conn");
  el.textContent = text;
  el.className = "pill " + (cls || "");
  document.body.dataset.state = cls === "ok" ? "live" : text;
}

// ---- the event stream (fetch, so that the token can travel in a header) -------------------
async function stream() {
  for (;;) {
    try {
      const res = await fetch("/dashboard/stream", { headers: headers({ Accept: "text/event-stream" }) });
      if (res.status === 401 || res.status === 403) { needToken(); return; }
      if (!res.ok || !res.body) throw new Error("stream answered " + res.status);
      setConn("live", "ok");
      await readEvents(res.body.getReader());
    } catch (err) {
      setConn("reconnecting…", "bad");
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function readEvents(reader) {
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trim());
      }
      if (data.length) onEvent(event, JSON.parse(data.join("\n")));
    }
  }
}

function onEvent(event, data) {
  if (event === "history") { state.points = data; drawCharts(); }
  else if (event === "frame") onFrame(data);
}

function onFrame(f) {
  state.lastFrame = f.t;
  document.body.dataset.frames = String(Number(document.body.dataset.frames || 0) + 1);
  $("updated").textContent = "updated " + new Date(f.t * 1000).toLocaleTimeString();
  const redis = $("redis");
  if (!f.ok) {
    redis.textContent = "Redis: " + f.error;
    redis.className = "pill bad";
    return;
  }
  redis.textContent = "Redis ok";
  redis.className = "pill ok";
  for (const k of ["high", "normal", "low", "leased", "delayed", "dead"]) $("q-" + k).textContent = fmt(f.queues[k]);
  if (f.point) {
    if (!state.points.length || state.points[state.points.length - 1].t < f.point.t) state.points.push(f.point);
    while (state.points.length && f.point.t - state.points[0].t > SPAN_S) state.points.shift();
    $("r-completed").textContent = fmt(f.point.completed_per_s);
    $("r-latency").textContent = [f.point.p50_ms, f.point.p95_ms, f.point.p99_ms].map(ms).join(" · ");
  }
  drawWorkers(f.workers, f.t);
  drawCharts();
  // the DLQ list reloads when anything died or was re-driven since the last frame, also when
  // the dead count ends where it was (a re-driven task that died again)
  const deadKey = [f.queues.dead, f.stats.dead, f.stats.redriven].join("/");
  if (deadKey !== state.dead) { state.dead = deadKey; loadDlq(); }
}

// ---- workers --------------------------------------------------------------------------------
function drawWorkers(workers, now) {
  // Rows are kept per worker and updated in place, so a button in a row (chaos.js) survives
  // the next frame; a new row is announced with a "worker-row" event.
  $("workers-count").textContent = workers.length + " live";
  const body = $("workers").tBodies[0];
  const old = new Map([...body.rows].map((r) => [r.dataset.worker, r]));
  body.replaceChildren(...workers.map((w) => {
    const age = now - (w.last_heartbeat || now);
    const values = [w.id, (w.host || "?") + " · " + (w.pid ?? "?"), age.toFixed(1) + " s ago", w.running,
      w.prefetched, w.processed, w.failed, threads(w), (w.current || []).length];
    let tr = old.get(w.id);
    if (tr) values.forEach((v, i) => { tr.cells[i].textContent = v == null ? "–" : String(v); });
    else {
      tr = row(values);
      tr.dataset.worker = w.id;
      document.dispatchEvent(new CustomEvent("worker-row", { detail: tr }));
    }
    tr.classList.toggle("leader", Boolean(w.leader));
    tr.classList.toggle("stale", age > STALE_HEARTBEAT_S || w.status === "degraded");
    return tr;
  }));
}

function threads(w) {
  // `loops`: seconds since each loop (claim, ack, heartbeat, leader) last went round;
  // `stalled`: the loops silent for over WORKER_STALL_MS, which make the node degraded.
  const loops = w.loops || {};
  const names = Object.keys(loops);
  if (w.stalled && w.stalled.length) return "stalled: " + w.stalled.join(", ");
  return names.length ? names.length + " loops alive" : "–";
}

// ---- dead-letter queue ----------------------------------------------------------------------
async function loadDlq() {
  try {
    const d = await api("GET", "/dlq?limit=50");
    $("dlq-count").textContent = d.total + " dead";
    $("dlq").tBodies[0].replaceChildren(...d.tasks.map((t) => {
      const button = document.createElement("button");
      button.textContent = "re-drive";
      button.dataset.redrive = t.id;
      button.addEventListener("click", () => redrive(t.id, button));
      const tr = row([t.id, t.type, t.attempts, t.error || "", when(t.finished_at), button]);
      tr.cells[3].className = "err";
      tr.cells[0].addEventListener("click", () => showTask(t.id));
      return tr;
    }));
  } catch (err) {
    $("dlq-msg").textContent = "dead-letter queue: " + err.message;
  }
}

async function redrive(id, button) {
  button.disabled = true;
  try {
    await api("POST", "/dlq/" + encodeURIComponent(id) + "/retry", {});
    $("dlq-msg").textContent = "re-driven " + id;
    loadDlq();
  } catch (err) {
    $("dlq-msg").textContent = "re-drive " + id + ": " + err.message;
    button.disabled = false;
  }
}

// ---- one task -------------------------------------------------------------------------------
async function showTask(id) {
  $("task-id").value = id;
  $("task-msg").textContent = "";
  try {
    const t = await api("GET", "/tasks/" + encodeURIComponent(id));
    $("task").hidden = false;
    const dl = $("task-fields");
    dl.replaceChildren();
    for (const k of ["id", "type", "status", "priority", "attempts", "worker", "error", "submitted_at", "started_at", "finished_at"]) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = k.endsWith("_at") ? when(t[k]) : String(t[k] ?? "–");
      dl.append(dt, dd);
    }
    const events = t.events || [];
    const t0 = events.length ? events[0].t : 0;
    $("task-events").tBodies[0].replaceChildren(...events.map((e) =>
      row([(e.t - t0).toFixed(3), e.event, e.worker || "", e.token ?? "", e.detail ?? ""])));
    drawTimeline(events);
    document.body.dataset.task = t.status;
  } catch (err) {
    $("task").hidden = true;
    $("task-msg").textContent = id + ": " + err.message;
  }
}

const KNOWN_EVENTS = new Set(["claimed", "started", "succeeded", "failed", "dead", "lease_expired", "stale_ack", "worker_lost"]);

function drawTimeline(events) {
  // One row per event (a staircase in time), so events a millisecond apart stay readable.
  const svg = $("task-timeline");
  svg.replaceChildren();
  if (!events.length) return;
  const rowH = 16, height = 24 + rowH * events.length;
  svg.setAttribute("viewBox", `0 0 900 ${height}`);
  const t0 = events[0].t, t1 = Math.max(events[events.length - 1].t, t0 + 0.001);
  const x = (t) => 20 + (700 * (t - t0)) / (t1 - t0);
  svg.append(el("line", { x1: 20, x2: 720, y1: height - 8, y2: height - 8, class: "axis" }));
  const end = el("text", { x: 720, y: height, "text-anchor": "end" });
  end.textContent = "+" + (t1 - t0).toFixed(3) + " s";
  svg.append(end);
  events.forEach((e, i) => {
    const y = 12 + rowH * i, cx = x(e.t);
    const cls = "ev-" + (KNOWN_EVENTS.has(e.event) ? e.event : "other");
    svg.append(el("line", { x1: cx, x2: cx, y1: y, y2: height - 8, class: "axis" }));
    const c = el("circle", { cx, cy: y, r: 5, class: cls });
    const title = el("title", {});
    title.textContent = `${e.event} +${(e.t - t0).toFixed(3)} s ${e.worker || ""}`;
    c.append(title);
    const label = el("text", { x: cx + 9, y: y + 4 });
    label.textContent = `${e.event}${e.worker ? " · " + e.worker : ""}  +${(e.t - t0).toFixed(3)} s`;
    svg.append(c, label);
  });
}

// ---- charts (plain SVG polylines) ------------------------------------------------------------
function drawCharts() {
  const pts = state.points;
  chart($("chart-rate"), pts, [["completed_per_s", "s-completed"]]);
  chart($("chart-latency"), pts, [["p50_ms", "s-p50"], ["p99_ms", "s-p99"]]);
  chart($("chart-queues"), pts, [["high", "s-high"], ["normal", "s-normal"], ["low", "s-low"], ["leased", "s-leased"]]);
}

function chart(svg, pts, series) {
  svg.replaceChildren();
  const W = 600, H = 160, L = 40, B = 18;
  svg.append(el("line", { x1: L, x2: W, y1: H - B, y2: H - B, class: "axis" }));
  if (pts.length < 2) return;
  const t1 = pts[pts.length - 1].t, t0 = Math.min(pts[0].t, t1 - 10);
  let max = 0;
  for (const p of pts) for (const [k] of series) if (p[k] != null) max = Math.max(max, p[k]);
  max = max > 0 ? max * 1.1 : 1;
  const x = (t) => L + ((W - L) * (t - t0)) / (t1 - t0);
  const y = (v) => H - B - ((H - B - 6) * v) / max;
  const top = el("text", { x: 2, y: 12 }); top.textContent = fmt(max);
  const zero = el("text", { x: 2, y: H - B }); zero.textContent = "0";
  const ago = el("text", { x: L, y: H - 4 }); ago.textContent = "-" + Math.round(t1 - t0) + " s";
  svg.append(top, zero, ago);
  for (const [k, cls] of series) {
    const coords = pts.filter((p) => p[k] != null).map((p) => x(p.t).toFixed(1) + "," + y(p[k]).toFixed(1));
    if (coords.length > 1) svg.append(el("polyline", { points: coords.join(" "), class: cls, "data-series": k }));
  }
}

// ---- small helpers ---------------------------------------------------------------------------
function el(name, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.append(c); else td.textContent = c == null ? "–" : String(c);
    tr.append(td);
  }
  return tr;
}

function fmt(v) {
  if (v == null) return "–";
  return Number(v) >= 100 ? Math.round(v).toLocaleString() : String(Math.round(v * 10) / 10);
}
function ms(v) { return v == null ? "–" : fmt(v) + " ms"; }
function when(t) { return t ? new Date(t * 1000).toLocaleTimeString() : "–"; }

document.addEventListener("DOMContentLoaded", () => {
  $("auth").addEventListener("submit", (ev) => {
    ev.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("taskq-token", state.token);
    $("auth").hidden = true;
    stream();
  });
  $("search").addEventListener("submit", (ev) => { ev.preventDefault(); showTask($("task-id").value.trim()); });
  const fromHash = location.hash.startsWith("#task=") ? decodeURIComponent(location.hash.slice(6)) : "";
  if (fromHash) showTask(fromHash);
  stream();
});
