"use strict";
const $ = (id) => document.getElementById(id);
const fmt = (x) => (x === undefined || x === null ? "—" : Number(x).toFixed(4));
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

function explainTable(x) {
  const t = el("table");
  t.append(el("tr", {}, el("th", {}, ""), el("th", { class: "num" }, "score"), el("th", { class: "num" }, "rank")));
  t.append(el("tr", {}, el("td", {}, "vector"), el("td", { class: "num" }, fmt(x.vector)), el("td", { class: "num" }, x.vector_rank || "—")));
  t.append(el("tr", {}, el("td", {}, "keyword"), el("td", { class: "num" }, fmt(x.keyword)), el("td", { class: "num" }, x.keyword_rank || "—")));
  t.append(el("tr", {}, el("td", {}, "fused"), el("td", { class: "num" }, fmt(x.fused)), el("td", {}, "")));
  const box = el("div", {}, t);
  if (x.matched && x.matched.length) {
    const why = (m) => m.why === "typed" ? m.term : `${m.term} (${m.why} of “${m.from}”${m.set ? ", set " + m.set : ""})`;
    box.append(el("p", { class: "matched" }, "Words matched: " + x.matched.map(why).join(", ")));
  }
  if (x.because && x.because.length) {
    box.append(el("p", {}, "Because the user liked: " + x.because.map((b) => b.title || b.id).join(", ")));
  }
  return box;
}

function render(hits) {
  const ol = $("hits");
  ol.replaceChildren();
  for (const h of hits) {
    const it = h.item || { id: h.id };
    const li = el("li", { "data-id": h.id });
    const hl = h.highlights || {};
    const title = el("div", { class: "hit-title" });
    // Highlights are HTML the server escaped: only its <mark> tags are markup.
    if (hl.title) title.innerHTML = hl.title;
    else title.textContent = it.title || it.id;
    li.append(title);
    li.append(el("div", { class: "hit-meta" }, `${it.id} · score ${fmt(h.score)}`));
    const chips = el("div");
    for (const c of it.categories || []) chips.append(el("span", { class: "chip" }, c));
    for (const t of it.tags || []) chips.append(el("span", { class: "chip" }, "#" + t));
    li.append(chips);
    if (hl.description) {
      const d = el("p", { class: "desc" });
      d.innerHTML = hl.description;
      li.append(d);
    } else if (it.description) li.append(el("p", { class: "desc" }, it.description.slice(0, 280)));
    if (h.explain) {
      const d = el("details", {}, el("summary", {}, "Why this result"));
      d.append(explainTable(h.explain));
      li.append(d);
    }
    ol.append(li);
  }
}

let pending = null; // the request in flight, aborted by the next one

// Facets as checkboxes with their counts; ticking one filters by it.
function renderFacets(facets) {
  const box = $("facets");
  box.replaceChildren();
  for (const [name, input] of [["category", "category"], ["tag", "tag"]]) {
    const values = (facets || {})[name] || [];
    if (!values.length) continue;
    const chosen = list($(input).value);
    const fs = el("fieldset", {}, el("legend", {}, name === "category" ? "Categories" : "Tags"));
    for (const v of values) {
      const cb = el("input", { type: "checkbox", "data-facet": name, "data-value": v.value });
      cb.checked = chosen.includes(v.value);
      cb.addEventListener("change", () => {
        const now = list($(input).value).filter((x) => x !== v.value);
        if (cb.checked) now.push(v.value);
        $(input).value = now.join(", ");
        search();
      });
      fs.append(el("label", { class: "row" }, cb, ` ${v.value} (${v.count})`));
    }
    box.append(fs);
  }
}

async function search(ev) {
  if (ev) ev.preventDefault();
  if (pending) pending.abort();
  const ctl = new AbortController();
  pending = ctl;
  const p = new URLSearchParams();
  const q = $("q").value.trim(), user = $("user").value.trim();
  if (q) p.set("q", q);
  if (user) p.set("user", user);
  for (const k of ["mode", "fusion", "alpha", "k"]) p.set(k, $(k).value);
  for (const c of list($("category").value)) p.append("category", c);
  for (const t of list($("tag").value)) p.append("tag", t);
  if (Number($("mmr").value) > 0) p.set("mmr", $("mmr").value);
  if ($("exclude_seen").checked) p.set("exclude_seen", "true");
  p.set("explain", "true");
  if (q) p.set("highlight", "true");
  p.set("facets", "category,tag");
  history.replaceState(null, "", "?" + p.toString());
  const status = $("status");
  status.className = "status";
  status.textContent = "Searching…";
  try {
    const token = $("token").value;
    const r = await fetch("/v1/search?" + p.toString(), { signal: ctl.signal, headers: token ? { Authorization: "Bearer " + token } : {} });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    render(body.hits);
    renderFacets(body.facets);
    status.textContent = `${body.hits.length} results in ${body.took_ms.toFixed(1)} ms`;
  } catch (e) {
    if (e.name === "AbortError") return; // a newer search took over
    status.className = "status error";
    status.textContent = "Search failed: " + e.message;
    $("hits").replaceChildren();
  }
}

$("token").value = sessionStorage.getItem("duet-read-token") || "";
$("token").addEventListener("change", () => sessionStorage.setItem("duet-read-token", $("token").value));
$("search").addEventListener("submit", search);
// Completions of the word being typed, for the query box's list.
async function suggest() {
  const q = $("q").value;
  const list = $("suggestions");
  if (!q.trim()) return list.replaceChildren();
  const p = new URLSearchParams({ q, k: "5" });
  const user = $("user").value.trim();
  if (user) p.set("user", user);
  try {
    const token = $("token").value;
    const r = await fetch("/v1/suggest?" + p.toString(), token ? { headers: { Authorization: "Bearer " + token } } : {});
    if (!r.ok) return;
    const body = await r.json();
    list.replaceChildren(...body.queries.map((s) => el("option", { value: s })));
  } catch (e) {
    // Suggestions are a help: the search itself reports errors.
  }
}

// Search as you type: a moment after the last key, the last word as a prefix.
let typing = 0;
$("q").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(() => {
    suggest();
    search();
  }, 150);
});
const init = new URLSearchParams(location.search);
for (const k of ["q", "user", "mode", "fusion", "alpha", "k", "mmr"]) if (init.has(k)) $(k).value = init.get(k);
if (init.has("category")) $("category").value = init.getAll("category").join(", ");
if (init.has("tag")) $("tag").value = init.getAll("tag").join(", ");
if (init.get("exclude_seen") === "true") $("exclude_seen").checked = true;
if (init.has("q") || init.has("user")) search();
