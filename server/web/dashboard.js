"use strict";
// The dashboard: GET /admin/online and /admin/stats with the admin token,
// drawn as tiles, SVG line charts and tables; refreshed every 10 seconds.
const $ = (id) => document.getElementById(id);
const NS = "http://www.w3.org/2000/svg";
$("token").value = sessionStorage.getItem("duet-admin-token") || "";

function el(tag, attrs = {}, text) {
  const e = tag.startsWith("svg:") ? document.createElementNS(NS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}
function row(...cells) { const tr = el("tr"); tr.append(...cells); return tr; }
const pct = (x) => (100 * x).toFixed(1) + "%";

async function get(path) {
  const r = await fetch(path, { headers: { Authorization: "Bearer " + $("token").value } });
  const body = await r.json();
  if (!r.ok) throw new Error((body.error && body.error.message) || r.statusText);
  return body;
}

// lineChart draws one line per series: {name: [{t, v}]}.
function lineChart(box, series, fmt) {
  box.replaceChildren();
  const names = Object.keys(series);
  const pts = names.flatMap((n) => series[n]);
  if (pts.length === 0) { box.append(el("p", { class: "hit-meta" }, "Nothing shown in this window yet.")); return; }
  const W = 600, H = 220, L = 48, B = 24;
  const t0 = Math.min(...pts.map((p) => p.t)), t1 = Math.max(...pts.map((p) => p.t), t0 + 1);
  const vmax = Math.max(...pts.map((p) => p.v), 1e-9);
  const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - 8);
  const y = (v) => H - B - (v / vmax) * (H - B - 8);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": box.id });
  svg.append(el("svg:line", { x1: L, y1: H - B, x2: W, y2: H - B, class: "axis" }));
  svg.append(el("svg:text", { x: 4, y: 14, class: "tick" }, fmt(vmax)));
  svg.append(el("svg:text", { x: 4, y: H - B, class: "tick" }, fmt(0)));
  svg.append(el("svg:text", { x: L, y: H - 6, class: "tick" }, new Date(t0).toLocaleTimeString()));
  svg.append(el("svg:text", { x: W - 70, y: H - 6, class: "tick" }, new Date(t1).toLocaleTimeString()));
  names.forEach((n, i) => {
    const d = series[n].sort((a, b) => a.t - b.t).map((p, j) => (j ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.v).toFixed(1)).join(" ");
    svg.append(el("svg:path", { d, class: "line s" + (i % 4), "data-route": n }));
    svg.append(el("svg:text", { x: L + 8 + 130 * i, y: 14, class: "legend s" + (i % 4) }, n));
  });
  box.append(svg);
}

function tiles(routes) {
  const box = $("tiles");
  box.replaceChildren();
  if (routes.length === 0) box.append(el("p", { class: "hit-meta" }, "No impressions in this window yet."));
  for (const r of routes) {
    const t = el("div", { class: "panel tile" });
    t.append(el("h3", {}, r.route));
    const dl = el("dl");
    for (const [k, v] of [["impressions", r.impressions], ["clicks", r.clicks], ["CTR@1", pct(r.ctr["ctr@1"])], ["CTR@10", pct(r.ctr["ctr@10"])], ["MRR", r.mrr.toFixed(3)], ["coverage", pct(r.coverage || 0)]]) {
      dl.append(el("dt", {}, k), el("dd", {}, String(v)));
    }
    t.append(dl);
    box.append(t);
  }
}

function experiments(list) {
  const body = $("experiments");
  body.replaceChildren();
  if (list.length === 0) body.append(row(el("td", { colspan: 8, class: "hit-meta" }, "No experiments.")));
  for (const e of list) {
    const v = e.verdict;
    const ab = e.method === "ab" ? `${v.clicked_a}/${v.impressions_a} · ${v.clicked_b}/${v.impressions_b}` : `${v.wins_a} · ${v.wins_b} (ties ${v.ties})`;
    const tr = el("tr");
    tr.append(el("td", {}, e.id), el("td", {}, e.route), el("td", {}, e.method), el("td", { class: "num" }, String(v.impressions)),
      el("td", { class: "num" }, ab), el("td", {}, v.leader || "even"));
    const conf = el("td");
    const meter = el("meter", { min: 0, max: 1, value: v.confidence, title: "p = " + v.p.toPrecision(2) });
    conf.append(meter, document.createTextNode(" " + pct(v.confidence) + (v.significant ? " ✓" : "")));
    tr.append(conf, el("td", {}, e.stopped ? "stopped" : "running"));
    body.append(tr);
  }
}

function rebuilds(stats) {
  const snap = stats.snapshot || {};
  const val = snap.validation || {};
  $("served").textContent = snap.snapshot ? `Serving ${snap.snapshot.split("/").pop()} (${snap.items} items)` +
    (Object.keys(val).length ? "; validation " + Object.entries(val).map(([k, v]) => k + " " + v).join(", ") : "") : "No snapshot loaded.";
  const body = $("rebuilds");
  body.replaceChildren();
  const runs = (stats.rebuilds && stats.rebuilds.runs) || [];
  if (runs.length === 0) body.append(row(el("td", { colspan: 5, class: "hit-meta" }, stats.rebuilds ? "None yet." : "Not scheduled (duet serve --rebuild-every, --rebuild-after-events).")));
  for (const r of runs) {
    const tr = el("tr");
    tr.append(el("td", {}, new Date(r.started).toLocaleString()), el("td", {}, r.trigger), el("td", { class: r.ok ? "ok" : "error" }, r.ok ? "published" : r.error || "failed"),
      el("td", { class: "num" }, r.took_s.toFixed(1) + " s"), el("td", {}, r.validation || ""));
    body.append(tr);
  }
}

function sizes(stats, online) {
  const body = $("sizes");
  body.replaceChildren();
  const rows = [["store items", stats.store.items], ["store events", stats.store.events], ["store sequence", stats.store.seq],
    ["index items (at build)", stats.snapshot ? stats.snapshot.items : "—"], ["live lag (changes)", stats.lag],
    ["impressions recorded", online.recorder.logged], ["impressions dropped", online.recorder.dropped + online.recorder.failed]];
  for (const l of online.latency || []) rows.push([`latency ${l.route}`, `p50 ${(1000 * l.p50).toFixed(1)} ms, p99 ${(1000 * l.p99).toFixed(1)} ms (${l.count})`]);
  for (const [k, v] of rows) {
    const tr = el("tr");
    tr.append(el("th", { scope: "row" }, k), el("td", { class: "num" }, String(v)));
    body.append(tr);
  }
}

async function refresh() {
  try {
    const [online, stats] = await Promise.all([get("/admin/online?window=" + $("window").value), get("/admin/stats")]);
    tiles(online.routes);
    const ctr = {}, imp = {};
    for (const p of online.series) {
      const t = Date.parse(p.time);
      (ctr[p.route] ||= []).push({ t, v: p.ctr["ctr@10"] });
      (imp[p.route] ||= []).push({ t, v: p.impressions });
    }
    lineChart($("ctr-chart"), ctr, pct);
    lineChart($("imp-chart"), imp, (v) => String(Math.round(v)));
    experiments(online.experiments);
    rebuilds(stats);
    sizes(stats, online);
    $("status").textContent = "Updated " + new Date().toLocaleTimeString();
    $("status").className = "status ok";
  } catch (e) {
    $("status").textContent = e.message;
    $("status").className = "status error";
  }
}

$("auth").addEventListener("submit", (ev) => {
  ev.preventDefault();
  sessionStorage.setItem("duet-admin-token", $("token").value);
  refresh();
});
setInterval(() => { if ($("token").value) refresh(); }, 10000);
if ($("token").value) refresh();
