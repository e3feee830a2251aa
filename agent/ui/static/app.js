// Baygate bay screen. Plain JS, no framework, no CDN: overview, bay page, printable report.
// Everything shown comes from /ui/api JSON and /ui/api/events (server-sent events).
// Untrusted text (scanned payloads, descriptions) only ever goes through textContent.
"use strict";

const SERIES_S = 60;
window.__seen = {};  // record id -> Date.now() when it became visible (bench/ui.py reads it)
let me = { permission: null, bays: [], shop: "", clear_codes: false };

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const card = (title, ...kids) => h("section", { class: "card", "data-card": title }, h("h2", {}, title), ...kids);
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const yesno = (b) => (b === null || b === undefined ? "—" : b ? "yes" : "no");

async function api(path, opts) {
  const r = await fetch("/ui/api/" + path, Object.assign({ credentials: "same-origin" }, opts || {}));
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}
const post = (path, body) =>
  api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });

// A record counts as visible at the next frame after the DOM shows it.
let unseen = [];
function seen(record) {
  if (!record) return;
  unseen.push(record);
  if (unseen.length > 1) return;
  requestAnimationFrame(() => {
    const now = Date.now();
    for (const r of unseen) window.__seen[r] = now;
    document.body.dataset.lastRecord = unseen[unseen.length - 1];
    unseen = [];
  });
}

function pill(kind, items) {
  if (!items || !items.length) return h("span", { class: "pill none" }, kind + ": none");
  return items.map((s) => h("span", { class: "pill " + s.status, title: s.detail }, kind + " " + s.name + ": " + s.status));
}

// ---- overview -------------------------------------------------------------------------

function overview() {
  document.getElementById("where").textContent = "All bays";
  const main = document.getElementById("main");
  const rows = {};
  const grid = h("div", { class: "bays" });
  main.replaceChildren(grid);
  const es = new EventSource("/ui/api/events?bay=*");
  es.addEventListener("overview", (e) => {
    const s = JSON.parse(e.data);
    const el = h("a", { class: "bay-tile" + (s.mil ? " mil" : ""), href: "/ui/bay/" + encodeURIComponent(s.bay), "data-bay": s.bay },
      h("h2", {}, "Bay " + s.bay),
      h("div", { class: "vin" }, s.vin || "no vehicle"),
      h("div", {}, s.vehicle || ""),
      h("div", {}, s.codes.length ? s.codes.join(" ") : s.vin ? "no codes" : ""),
      h("div", { class: "muted" }, (s.visit ? "visit " + s.visit : "no visit") + (s.open_tasks ? " · " + s.open_tasks + " task(s)" : "")),
      h("div", {}, pill("dongle", s.status.dongles), pill("camera", s.status.cameras)));
    if (rows[s.bay]) rows[s.bay].replaceWith(el); else grid.append(el);
    rows[s.bay] = el;
    seen(s.record);
  });
}

// ---- bay page -------------------------------------------------------------------------

let bayState = null;
let graphPending = false;
const pendingSamples = [];

function bayPage(bay) {
  document.getElementById("where").textContent = "Bay " + bay;
  const es = new EventSource("/ui/api/events?bay=" + encodeURIComponent(bay));
  es.addEventListener("snapshot", (e) => {
    bayState = JSON.parse(e.data);
    renderBay();
    seen(bayState.record);
  });
  es.addEventListener("samples", (e) => {
    const d = JSON.parse(e.data);
    if (!bayState) return;
    for (const s of d.samples) {
      const ser = (bayState.series[s.pid] = bayState.series[s.pid] || { unit: s.unit, points: [] });
      ser.points.push([s.t, s.v]);
      const cut = s.t - SERIES_S;
      while (ser.points.length && ser.points[0][0] < cut) ser.points.shift();
    }
    pendingSamples.push(d.record);
    if (!graphPending) {
      graphPending = true;
      requestAnimationFrame(() => {
        graphPending = false;
        renderGraphs();
        for (const r of pendingSamples.splice(0)) seen(r);
      });
    }
  });
}

function renderBay() {
  const s = bayState;
  document.getElementById("pills").replaceChildren(...[pill("dongle", s.status.dongles), pill("camera", s.status.cameras), pill("uplink", s.status.uplink)].flat());
  const main = document.getElementById("main");
  main.replaceChildren(h("div", { class: "grid" },
    vehicleCard(s), codesCard(s.report, s.clear), visitCard(s), h("section", { class: "card wide", id: "graphs", "data-card": "Live data" }),
    readinessCard(s.report), freezeCard(s.report), mode06Card(s.report), scansCard(s.scans), tasksCard(s.tasks), historyCard(s.history, s.visit)));
  renderGraphs();
}

function vehicleCard(s) {
  const v = s.vehicle || {};
  const off = v.offline || {};
  // NHTSA's make/model when it answered; the VIN's own facts (WMI, year digit) meanwhile.
  const name = [v.year, v.make || off.manufacturer, v.model].filter(Boolean).join(" ");
  return card("Vehicle",
    h("div", { class: "vin", id: "vin" }, s.vin || "waiting for a dongle or a VIN scan"),
    h("div", { class: "big" }, name),
    h("div", { class: "muted" }, v.decode_source ? "decoded: " + v.decode_source : s.vin ? "decoding…" : ""),
    s.report ? h("div", { class: "muted" }, (s.report.protocol || "") + " · dongle " + s.report.dongle) : null,
    recallsBlock(v));
}

function recallsBlock(v) {
  if (!v.recalls_checked_on) return null;
  return h("div", { class: "recalls" },
    h("strong", {}, v.recalls.length ? v.recalls.length + " open recall(s)" : "No open recalls"),
    h("span", { class: "muted" }, " · checked on " + fmtTime(v.recalls_checked_on)),
    h("ul", {}, v.recalls.map((r) => h("li", {}, h("b", {}, r.campaign + " "), r.component))));
}

// The last clear from this screen (record dtc_clear): what it did, or why it did not.
function clearLine(c) {
  if (!c) return null;
  const what = c.outcome === "cleared" ? "Codes cleared" + (c.cleared.length ? ": " + c.cleared.join(" ") : "")
    : (c.outcome === "refused" ? "Not cleared: " : "Clear failed: ") + (c.reason || "");
  return h("p", { id: "clear", class: c.outcome === "cleared" ? "ok" : "nok", "data-outcome": c.outcome }, what + " · " + fmtTime(c.ts));
}

function codesCard(rep, clear) {
  if (!rep) return card("Trouble codes", h("p", { class: "muted" }, "no report yet"), clearLine(clear));
  return card("Trouble codes", clearLine(clear),
    h("div", { class: "mil " + (rep.mil ? "on" : "off"), id: "mil" }, rep.mil ? "MIL ON" : "MIL off"),
    rep.dtcs.length
      ? h("ul", { class: "dtcs", id: "dtcs" }, rep.dtcs.map((d) =>
          h("li", { class: "sev-" + d.severity, "data-code": d.code },
            h("span", { class: "code" }, d.code), h("span", { class: "badge" }, d.severity), h("span", { class: "badge grp" }, d.group),
            h("div", {}, d.description || "no description"))))
      : h("p", { id: "dtcs" }, "No trouble codes"),
    rep.errors.length ? h("p", { class: "muted" }, "not read: " + rep.errors.join("; ")) : null);
}

function readinessCard(rep) {
  if (!rep || !Object.keys(rep.monitors).length) return card("Readiness", h("p", { class: "muted" }, "—"));
  return card("Readiness", h("ul", { class: "monitors" }, Object.entries(rep.monitors).filter(([, m]) => m.supported).map(([n, m]) =>
    h("li", { class: m.complete ? "ok" : "nok" }, (m.complete ? "✔ " : "✖ ") + n.replaceAll("_", " ")))));
}

function freezeCard(rep) {
  const ff = rep && rep.freeze_frame;
  if (!ff) return card("Freeze frame", h("p", { class: "muted" }, "none stored"));
  return card("Freeze frame", h("p", {}, "set by " + (ff.dtc || "?")),
    h("table", {}, ff.values.map((v) => h("tr", {}, h("td", {}, v.pid), h("td", {}, String(v.value) + (v.unit ? " " + v.unit : ""))))));
}

function mode06Card(rep) {
  if (!rep || !rep.mode06) return null;  // shown only when the report carries Mode 06 results
  return card("Mode 06", h("table", {}, rep.mode06.map((t) => h("tr", { class: t.pass ? "ok" : "nok" },
    h("td", {}, t.name), h("td", {}, String(t.value)), h("td", {}, t.min + "…" + t.max)))));
}

function scansCard(scans) {
  return card("Scans", scans.length
    ? h("ul", { class: "scans", id: "scans" }, scans.slice(0, 6).map((x) => h("li", { "data-scan": x.id },
        h("span", { class: "badge" }, x.classification), " ", h("span", { class: "payload" }, x.vin || x.payload), " ",
        x.verified === null ? null : h("span", { class: "badge " + (x.verified ? "ok" : "nok") }, x.verified ? "verified" : "unverified"),
        h("div", { class: "muted" }, x.camera + " · " + fmtTime(x.ts)))))
    : h("p", { class: "muted", id: "scans" }, "nothing scanned yet"));
}

function codesLine(scan) {
  if (!scan) return "—";
  const all = [...scan.dtcs.stored, ...scan.dtcs.pending, ...scan.dtcs.permanent].map((d) => d.code);
  return [...new Set(all)].join(" ") || "no codes";
}

function diffBlock(d) {
  if (!d) return null;
  const row = (label, list, cls) => h("tr", { class: cls }, h("th", {}, label), h("td", {}, list.length ? list.join(" ") : "—"));
  return h("table", { class: "diff" }, row("Cleared", d.cleared, "ok"), row("New", d.new, "nok"), row("Still present", d.still_present, ""),
    row("Monitors now ready", d.monitors_ready, "ok"), row("Monitors not ready", d.monitors_not_ready, ""),
    h("tr", {}, h("th", {}, "MIL"), h("td", {}, yesno(d.mil_before) + " → " + yesno(d.mil_after))),
    h("tr", {}, h("th", {}, "Freeze frame cleared"), h("td", {}, yesno(d.freeze_frame_cleared))));
}

function visitCard(s) {
  const v = s.visit;
  if (!v) return card("Visit", h("p", { class: "muted" }, "no open visit"));
  const ch = v.change || {};
  const act = me.permission === "act";
  return card("Visit",
    h("p", {}, "Started " + fmtTime(v.started_at) + " by " + v.started_by),
    h("table", {}, h("tr", {}, h("th", {}, "Pre-scan"), h("td", {}, v.pre ? codesLine(v.pre) + " · " + fmtTime(v.pre.ts) : "waiting for the first full report"))),
    ch.came_back && ch.came_back.length ? h("p", { class: "nok" }, "Came back after a clear: " + ch.came_back.join(" ")) : null,
    ch.recurring && ch.recurring.length ? h("p", {}, "Recurring: " + ch.recurring.join(" ")) : null,
    ch.new && ch.new.length && s.history.length ? h("p", {}, "New since last visit: " + ch.new.join(" ")) : null,
    act ? h("div", { class: "actions" },
      h("input", { id: "tech", placeholder: "technician", maxlength: 64, value: localStorage.getItem("baygate.tech") || "",
        oninput: (e) => localStorage.setItem("baygate.tech", e.target.value) }),
      h("button", { id: "finish", onclick: async () => {
        if (!confirm("Finish this visit and take the post-scan?")) return;
        const btn = document.getElementById("finish");
        btn.disabled = true;
        btn.textContent = "Taking the post-scan…";
        const done = await post("visits/" + v.visit + "/finish", { technician: localStorage.getItem("baygate.tech") || null });
        location.href = "/ui/report/" + done.visit;
      } }, "Finish visit"),
      me.clear_codes ? h("button", { class: "danger", id: "clear-codes", onclick: async () => {
        if (!confirm("Clear all trouble codes on this car? Readiness monitors reset too.")) return;
        const btn = document.getElementById("clear-codes");
        btn.disabled = true;
        btn.textContent = "Clearing…";
        try {  // the outcome arrives as the bay's next snapshot too; an error is said here
          await post("bays/" + encodeURIComponent(s.bay) + "/clear-codes", { confirm: true });
        } catch (e) {
          alert("Codes not cleared: " + e.message);
        } finally {
          btn.disabled = false;
          btn.textContent = "Clear codes";
        }
      } }, "Clear codes") : null) : h("p", { class: "muted" }, "view only"));
}

function historyCard(hist) {
  if (!hist.length) return card("History", h("p", { class: "muted" }, "first visit of this vehicle"));
  return card("History", h("table", { id: "history" }, hist.map((v) => h("tr", {},
    h("td", {}, fmtTime(v.started_at)), h("td", {}, codesLine(v.pre)), h("td", {}, v.post ? "after: " + codesLine(v.post) : v.state),
    h("td", {}, h("a", { href: "/ui/report/" + v.visit }, "report"))))));
}

function tasksCard(tasks) {
  if (!tasks.length) return card("Tasks", h("p", { class: "muted" }, "nothing to do"));
  const act = me.permission === "act";
  return card("Tasks", h("ul", { class: "tasks", id: "tasks" }, tasks.map((t) => h("li", { class: t.done_at ? "done" : "", "data-task": t.id },
    h("strong", {}, t.title), t.url ? h("div", {}, h("a", { href: t.url, target: "_blank", rel: "noopener noreferrer" }, "open the form")) : null,
    t.steps.length ? h("ol", {}, t.steps.map((x) => h("li", {}, x))) : null,
    Object.keys(t.data).length ? h("pre", {}, Object.entries(t.data).map(([k, v]) => k + ": " + v).join("\n")) : null,
    t.done_at ? h("div", { class: "muted" }, "done " + fmtTime(t.done_at) + (t.done_by ? " by " + t.done_by : ""))
      : act ? h("button", { onclick: () => post("tasks/" + encodeURIComponent(t.id) + "/done", {}) }, "Mark done") : null))));
}

function renderGraphs() {
  const box = document.getElementById("graphs");
  if (!box || !bayState) return;
  const entries = Object.entries(bayState.series);
  const W = 300, H = 70;
  box.replaceChildren(h("h2", {}, "Live data (last minute)"), entries.length ? h("div", { class: "graphs" }, entries.map(([pid, ser]) => {
    const pts = ser.points;
    const last = pts.length ? pts[pts.length - 1] : null;
    const t1 = last ? last[0] : 0, t0 = t1 - SERIES_S;
    const vs = pts.map((p) => p[1]);
    const lo = Math.min(...vs), hi = Math.max(...vs), span = hi - lo || 1;
    const d = pts.map((p, i) => (i ? "L" : "M") + ((p[0] - t0) / SERIES_S * W).toFixed(1) + " " + (H - 4 - (p[1] - lo) / span * (H - 8)).toFixed(1)).join(" ");
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.setAttribute("preserveAspectRatio", "none");
    const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
    path.setAttribute("d", d);
    svg.append(path);
    return h("figure", { "data-pid": pid }, h("figcaption", {}, pid.replaceAll("_", " ") + ": ", h("b", {}, last ? String(+last[1].toFixed(1)) : "—"), " " + (ser.unit || "")), svg);
  })) : h("p", { class: "muted" }, "no live data"));
}

// ---- printable report -----------------------------------------------------------------

async function reportPage(id) {
  document.body.classList.add("report");
  const r = await api("visits/" + encodeURIComponent(id));
  const v = r.visit, veh = r.vehicle || {};
  document.getElementById("where").textContent = "Visit report";
  const scanTable = (label, scan) => h("section", { class: "card" }, h("h2", {}, label),
    scan ? [h("p", {}, fmtTime(scan.ts) + " · MIL " + (scan.mil ? "on" : "off") + (scan.distance_since_clear_km !== null ? " · " + scan.distance_since_clear_km + " km since codes cleared" : "")),
      h("ul", {}, [...scan.dtcs.stored.map((d) => [d, "stored"]), ...scan.dtcs.pending.map((d) => [d, "pending"]), ...scan.dtcs.permanent.map((d) => [d, "permanent"])]
        .map(([d, g]) => h("li", {}, h("b", {}, d.code), " (" + g + ") " + (d.description || "")))),
      h("p", { class: "muted" }, "Monitors not ready: " + (Object.entries(scan.monitors).filter(([, m]) => m.supported && !m.complete).map(([n]) => n).join(", ") || "none"))]
      : h("p", {}, "not taken"));
  document.getElementById("main").replaceChildren(h("article", { class: "print" },
    h("h1", {}, "Pre/post scan report"),
    h("table", { class: "facts" },
      [["Shop", r.shop], ["Bay", v.bay], ["Technician", v.technician || "—"], ["VIN", v.vin || "—"],
       ["Vehicle", [veh.year, veh.make, veh.model].filter(Boolean).join(" ") || "—"], ["Visit", fmtTime(v.started_at) + " – " + fmtTime(v.ended_at)],
       ["State", v.state]].map(([k, x]) => h("tr", {}, h("th", {}, k), h("td", {}, x)))),
    h("div", { class: "two" }, scanTable("Pre-scan", v.pre), scanTable("Post-scan", v.post)),
    h("section", { class: "card" }, h("h2", {}, "Difference"), diffBlock(v.diff) || h("p", {}, "needs both scans")),
    veh.recalls_checked_on ? h("section", { class: "card" }, h("h2", {}, "Open recalls"), recallsBlock(veh)) : null,
    h("p", { class: "noprint" }, h("button", { onclick: () => window.print() }, "Print"), " ", h("a", { href: "/ui/bay/" + encodeURIComponent(v.bay) }, "back to the bay"))));
  seen("report:" + id);
}

// ---- start ----------------------------------------------------------------------------

(async function start() {
  try {
    me = await api("whoami");
  } catch (e) {
    document.getElementById("main").replaceChildren(h("p", { class: "nok" }, "No access: " + e.message));
    return;
  }
  const p = location.pathname.replace(/\/+$/, "");
  let m;
  if ((m = p.match(/^\/ui\/bay\/([^/]+)$/))) bayPage(decodeURIComponent(m[1]));
  else if ((m = p.match(/^\/ui\/report\/([^/]+)$/))) reportPage(decodeURIComponent(m[1]));
  else overview();
})();
