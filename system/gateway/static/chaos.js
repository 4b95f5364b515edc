// Hands-on chaos, only when the page was opened from `harness up`: its dashboard URL ends with
// #chaos=<control server>&key=<token>. The buttons call that control server (the harness, not
// the gateway: the gateway never proxies chaos), which applies the same faults as a scenario's
// timeline and records them. The token moves from the address bar to this tab's sessionStorage.
"use strict";

(() => {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("chaos")) {
    sessionStorage.setItem("taskq-chaos", JSON.stringify({ url: hash.get("chaos"), key: hash.get("key") || "" }));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const session = JSON.parse(sessionStorage.getItem("taskq-chaos") || "null");
  if (!session) return;
  const $ = (id) => document.getElementById(id);
  const say = (text, bad) => { const m = $("chaos-msg"); m.textContent = text; m.style.color = bad ? "var(--bad)" : ""; };

  async function fault(body) {
    const what = [body.fault, body.target, body.workers, body.for && "for " + body.for].filter((x) => x != null).join(" ");
    say(what + "…");
    document.body.dataset.chaos = "busy";
    try {
      const res = await fetch(session.url + "/fault", {
        method: "POST", body: JSON.stringify(body),
        headers: { "Content-Type": "application/json", "X-Harness-Token": session.key },
      });
      const data = await res.json().catch(() => ({}));
      const errors = data.errors && data.errors.length ? data.errors : data.error ? [data.error] : [];
      if (res.ok && data.ok) {
        const r = (data.records || [])[0];
        say(what + ": done" + (r && r.effective != null ? ` (${r.id}, effective +${(r.effective - r.requested).toFixed(3)} s)` : ""));
      } else say(what + ": " + (errors.join("; ") || res.status + " " + res.statusText), true);
    } catch (err) {
      say(what + ": the harness session does not answer (ended?): " + err.message, true);
    }
    document.body.dataset.chaos = "on";
  }

  function button(label, body) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.dataset.fault = label;
    b.addEventListener("click", () => fault(typeof body === "function" ? body() : body));
    return b;
  }

  const timed = (fault, target) => () => ({ fault, target, for: $("chaos-for").value.trim() || "10s" });

  document.addEventListener("worker-row", (ev) => {
    const tr = ev.detail, id = tr.dataset.worker, td = document.createElement("td");
    td.className = "chaos";
    td.append(button("kill", { fault: "kill", target: id }), button("pause", timed("pause", id)),
      button("partition", timed("partition", id)));
    tr.append(td);
  });

  document.addEventListener("DOMContentLoaded", () => {
    const head = $("workers").tHead.rows[0], th = document.createElement("th");
    th.textContent = "chaos";
    head.append(th);
    $("chaos").hidden = false;
    $("chaos").addEventListener("submit", (ev) => ev.preventDefault());
    $("chaos").querySelector("[data-fault=scale]").addEventListener("click",
      () => fault({ fault: "scale", workers: Number($("chaos-workers").value) }));
    $("chaos").querySelector("[data-fault=heal]").addEventListener("click", () => fault({ fault: "heal" }));
    document.body.dataset.chaos = "on";
    fetch(session.url + "/status", { headers: { "X-Harness-Token": session.key } })
      .then((r) => r.json()).then((s) => say("session " + s.phase + ", recording to " + s.run_dir))
      .catch(() => say("the harness session does not answer (ended?)", true));
  });
})();
