"use strict";
const $ = (id) => document.getElementById(id);
const list = (s) => s.split(",").map((x) => x.trim()).filter(Boolean);
let editing = null; // id of the item in the form, or null for a new one
let cursor = "";    // id after which the current page starts
let nextCursor = "";

$("token").value = sessionStorage.getItem("duet-editor-token") || "";
$("token").addEventListener("change", () => sessionStorage.setItem("duet-editor-token", $("token").value));

function say(msg, kind = "", where = "status") {
  $(where).className = "status " + kind;
  $(where).textContent = msg;
}

async function api(method, path, body) {
  const r = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + $("token").value },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.error ? `${data.error.message} (${data.error.code})` : r.statusText);
  return data;
}

async function loadPage(after) {
  const data = await api("GET", "/v1/items?limit=20" + (after ? "&after=" + encodeURIComponent(after) : ""));
  cursor = after;
  nextCursor = data.next || "";
  $("next").disabled = !nextCursor;
  const rows = $("rows");
  rows.replaceChildren();
  for (const it of data.items) {
    const tr = document.createElement("tr");
    const td = (t) => { const c = document.createElement("td"); c.textContent = t; return c; };
    tr.append(td(it.id), td(it.title || ""), td((it.categories || []).join(", ")));
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = "Edit";
    b.setAttribute("aria-label", "Edit " + (it.title || it.id));
    b.addEventListener("click", () => edit(it));
    const c = document.createElement("td");
    c.append(b);
    tr.append(c);
    rows.append(tr);
  }
}

function edit(it) {
  editing = it ? it.id : null;
  $("form-h").textContent = it ? "Edit " + it.id : "New item";
  $("id").value = it ? it.id : "";
  $("id").readOnly = !!it;
  $("title").value = it ? it.title || "" : "";
  $("description").value = it ? it.description || "" : "";
  $("tags").value = it ? (it.tags || []).join(", ") : "";
  $("categories").value = it ? (it.categories || []).join(", ") : "";
  $("attributes").value = it && it.attributes ? JSON.stringify(it.attributes) : "";
  $("delete").hidden = !it;
  $("find").hidden = true;
  say("");
  $("id").focus();
}

$("item").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const item = { id: $("id").value.trim(), title: $("title").value, description: $("description").value,
    tags: list($("tags").value), categories: list($("categories").value) };
  if ($("attributes").value.trim()) {
    try { item.attributes = JSON.parse($("attributes").value); } catch (e) { say("Attributes are not valid JSON: " + e.message, "error"); return; }
  }
  try {
    if (editing) await api("PUT", "/v1/items/" + encodeURIComponent(editing), item);
    else await api("POST", "/v1/items", item);
    editing = item.id;
    $("form-h").textContent = "Edit " + item.id;
    $("id").readOnly = true;
    $("delete").hidden = false;
    const find = $("find");
    find.href = "/?q=" + encodeURIComponent(item.title || item.id) + "&mode=keyword";
    find.hidden = false;
    say("Saved " + item.id + ". It is searchable now.", "ok");
    await loadPage(cursor);
  } catch (e) {
    say("Not saved: " + e.message, "error");
  }
});

$("delete").addEventListener("click", async () => {
  if (!editing || !confirm("Delete " + editing + "?")) return;
  try {
    await api("DELETE", "/v1/items/" + encodeURIComponent(editing));
    say("Deleted " + editing + ".", "ok");
    edit(null);
    await loadPage(cursor);
  } catch (e) {
    say("Not deleted: " + e.message, "error");
  }
});

$("new").addEventListener("click", () => edit(null));
$("first").addEventListener("click", () => loadPage(""));
$("next").addEventListener("click", () => nextCursor && loadPage(nextCursor));
loadPage("").catch((e) => say("Cannot list items: " + e.message, "error"));

// The search vocabulary: synonym sets and stop words.
const vocSay = (msg, kind) => say(msg, kind, "voc-status");

async function loadVocabulary() {
  const [syn, stop] = await Promise.all([api("GET", "/v1/synonyms"), api("GET", "/v1/stop-words")]);
  const rows = $("sets");
  rows.replaceChildren();
  for (const set of syn.synonyms) {
    const tr = document.createElement("tr");
    tr.dataset.id = set.id;
    const td = (t) => { const c = document.createElement("td"); c.textContent = t; return c; };
    const means = set.root ? set.root + " → " + set.terms.join(", ") : set.terms.join(" = ");
    tr.append(td(set.id), td(means));
    const b = document.createElement("button");
    b.type = "button";
    b.className = "danger";
    b.textContent = "Delete";
    b.setAttribute("aria-label", "Delete set " + set.id);
    b.addEventListener("click", async () => {
      try {
        await api("DELETE", "/v1/synonyms/" + encodeURIComponent(set.id));
        vocSay("Deleted set " + set.id + ".", "ok");
        await loadVocabulary();
      } catch (e) {
        vocSay("Not deleted: " + e.message, "error");
      }
    });
    const c = document.createElement("td");
    c.append(b);
    tr.append(c);
    rows.append(tr);
  }
  $("stop-words").value = stop.stop_words.join(", ");
}

$("synonyms").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const id = $("set-id").value.trim();
  const set = { terms: list($("set-terms").value) };
  if ($("set-root").value.trim()) set.root = $("set-root").value.trim();
  try {
    await api("PUT", "/v1/synonyms/" + encodeURIComponent(id), set);
    vocSay("Saved set " + id + ". Searches use it now.", "ok");
    await loadVocabulary();
  } catch (e) {
    vocSay("Not saved: " + e.message, "error");
  }
});

$("stop").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const r = await api("PUT", "/v1/stop-words", { stop_words: list($("stop-words").value) });
    vocSay("Saved " + r.stop_words.length + " stop words.", "ok");
    await loadVocabulary();
  } catch (e) {
    vocSay("Not saved: " + e.message, "error");
  }
});

loadVocabulary().catch((e) => vocSay("Cannot read the vocabulary: " + e.message, "error"));
