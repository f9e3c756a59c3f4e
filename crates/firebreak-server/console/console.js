// Firebreak moderator console. No framework, no CDN: served from the binary.
// Everything the server sends is inserted as text (textContent), never as HTML.
"use strict";

const state = {
  token: sessionStorage.getItem("firebreak-token") || "",
  who: null,
  cases: new Map(),
  cursor: 0,
  selected: null,
  active: 0,
  checked: new Set(),
  feed: null,
};
const PRIORITY_RANK = { P1: 1, P2: 2, P3: 3, P4: 4 };
const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: Object.assign(
      { Authorization: "Bearer " + state.token },
      body === undefined ? {} : { "Content-Type": "application/json" }
    ),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!response.ok) {
    const message = (data && data.error && data.error.message) || response.statusText;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return data;
}

// ---- sign-in ----------------------------------------------------------------

async function signIn(token) {
  state.token = token;
  try {
    state.who = await api("GET", "/v1/whoami");
  } catch (e) {
    state.token = "";
    sessionStorage.removeItem("firebreak-token");
    $("signin-error").textContent = e.status === 401
      ? "That token was not accepted. Check it and try again."
      : e.status === 403
        ? "This token's role cannot use the console."
        : "Sign-in failed: " + e.message;
    return false;
  }
  if (state.who.role === "ingest") {
    state.token = "";
    $("signin-error").textContent = "An ingest token cannot use the console.";
    return false;
  }
  sessionStorage.setItem("firebreak-token", token);
  $("signin").hidden = true;
  $("app").hidden = false;
  $("sign-out").hidden = false;
  $("who").textContent = "Signed in as " + state.who.name + " (" + state.who.role + ")";
  $("crisis-toggle").hidden = !(state.who.role === "crisis" || state.who.role === "admin");
  startFeed();
  refreshCrisis();
  refreshCharts();
  setInterval(refreshCrisis, 5000);
  setInterval(refreshCharts, 10000);
  setInterval(renderQueue, 1000);
  $("queue").focus();
  return true;
}

function readsTexts() {
  return state.who && (state.who.role === "moderator" || state.who.role === "admin");
}

// ---- live feed (SSE read with fetch, so the token travels in a header) --------

async function startFeed() {
  for (;;) {
    try {
      $("feed-state").textContent = "Live";
      await readFeed();
    } catch (e) {
      if (e.status === 401 || e.status === 403) {
        $("feed-state").textContent = "Feed refused: " + e.message;
        return;
      }
    }
    $("feed-state").textContent = "Reconnecting…";
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function readFeed() {
  const headers = { Authorization: "Bearer " + state.token, Accept: "text/event-stream" };
  if (state.cursor > 0) headers["Last-Event-ID"] = String(state.cursor);
  const response = await fetch("/v1/cases/events", { headers });
  if (!response.ok) {
    const error = new Error(response.statusText);
    error.status = response.status;
    throw error;
  }
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      handleBlock(block);
    }
  }
}

function handleBlock(block) {
  let event = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event:")) event = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  if (!data.length) return;
  const payload = JSON.parse(data.join("\n"));
  if (event === "failure") {
    // An expired cursor: start again from a fresh snapshot.
    state.cursor = 0;
    state.cases.clear();
    return;
  }
  if (event !== "case") return;
  state.cursor = Math.max(state.cursor, payload.cursor);
  const c = payload.case;
  const isNew = !state.cases.has(c.id);
  if (c.status === "resolved") state.cases.delete(c.id);
  else state.cases.set(c.id, c);
  if (isNew && c.status !== "resolved") {
    $("announce").textContent = "New case " + c.priority + " on " + c.channel;
    if (readsTexts()) loadExcerpt(c.id);
  }
  renderQueue();
  if (state.selected === c.id) loadCase(c.id);
  renderPriorityChart();
}

async function loadExcerpt(id) {
  try {
    const full = await api("GET", "/v1/cases/" + encodeURIComponent(id));
    const last = full.messages[full.messages.length - 1];
    const c = state.cases.get(id);
    if (c && last) { c.excerpt = last.text.slice(0, 80); c.author = last.author; renderQueue(); }
  } catch (_) { /* the queue still shows the case */ }
}

// ---- queue ------------------------------------------------------------------

function ordered() {
  return [...state.cases.values()].sort((a, b) =>
    (PRIORITY_RANK[a.priority] - PRIORITY_RANK[b.priority]) ||
    (Date.parse(a.created_at) - Date.parse(b.created_at)));
}

function age(iso) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m";
  return Math.floor(s / 3600) + "h" + String(Math.floor((s % 3600) / 60)).padStart(2, "0");
}

function dueText(c) {
  const due = c.status === "open" ? c.claim_due : (c.status === "claimed" ? c.ack_due : null);
  if (!due) return { text: c.status === "snoozed" ? "snoozed" : "no deadline", breached: false };
  const left = Math.round((Date.parse(due) - Date.now()) / 1000);
  const what = c.status === "open" ? "claim" : "ack";
  if (left < 0) return { text: "BREACHED " + what + " " + age(due) + " ago", breached: true };
  const m = Math.floor(left / 60), s = left % 60;
  return { text: what + " due in " + m + ":" + String(s).padStart(2, "0"), breached: false };
}

function renderQueue() {
  const list = $("queue");
  const cases = ordered();
  state.active = Math.min(state.active, Math.max(0, cases.length - 1));
  list.replaceChildren(...cases.map((c, i) => {
    const due = dueText(c);
    const flags = (c.flags || []).map((f) => f.kind).join(", ");
    const item = el("li", {
      id: "case-" + c.id,
      "data-id": c.id,
      role: "option",
      "aria-selected": String(i === state.active),
      class: (c.priority === "P1" ? "p1 " : "") + (i === state.active ? "active" : ""),
      onclick: () => { state.active = i; openCase(c.id); },
    },
      el("span", {},
        el("input", { type: "checkbox", "aria-label": "Select case " + c.id.slice(0, 8), onclick: (e) => { e.stopPropagation(); toggleChecked(c.id); } }),
        " ",
        el("span", { class: "badge " + (c.priority === "P1" ? "p1" : "") }, c.priority === "P1" ? "⚠ P1" : c.priority)),
      el("span", {},
        c.status + " · " + c.channel + " · " + c.visibility + " · " + age(c.created_at) + " old · ",
        el("span", { class: "due" + (due.breached ? " breached" : "") }, due.text),
        flags ? " · flags: " + flags : "",
        c.assignee ? " · held by " + c.assignee : ""),
      c.excerpt ? el("span", { class: "excerpt" }, (c.author ? "@" + (c.author.handle || c.author.id) + ": " : "") + c.excerpt) : null);
    const box = item.querySelector("input");
    box.checked = state.checked.has(c.id);
    return item;
  }));
  list.setAttribute("aria-activedescendant", cases[state.active] ? "case-" + cases[state.active].id : "");
  $("queue-count").textContent = "(" + cases.length + ")";
  $("queue-empty").hidden = cases.length > 0;
}

function toggleChecked(id) {
  if (state.checked.has(id)) state.checked.delete(id); else state.checked.add(id);
  renderQueue();
}

function onQueueKey(e) {
  const cases = ordered();
  if (!cases.length) return;
  if (e.key === "ArrowDown" || e.key === "j") state.active = Math.min(cases.length - 1, state.active + 1);
  else if (e.key === "ArrowUp" || e.key === "k") state.active = Math.max(0, state.active - 1);
  else if (e.key === "Enter") openCase(cases[state.active].id);
  else if (e.key === "x") toggleChecked(cases[state.active].id);
  else return;
  e.preventDefault();
  renderQueue();
}

// ---- case view --------------------------------------------------------------

function openCase(id) {
  state.selected = id;
  $("action-error").textContent = "";
  loadCase(id);
}

async function loadCase(id) {
  $("case-empty").hidden = true;
  $("case").hidden = false;
  let c;
  if (readsTexts()) {
    try { c = await api("GET", "/v1/cases/" + encodeURIComponent(id)); }
    catch (e) { $("action-error").textContent = e.message; return; }
  } else {
    c = state.cases.get(id);
    if (!c) return;
  }
  renderCase(c);
}

function fact(name, value) { return [el("dt", {}, name), el("dd", {}, value)]; }

function renderCase(c) {
  const due = dueText(c);
  $("case-facts").replaceChildren(
    ...fact("Case", c.id),
    ...fact("Priority", c.priority),
    ...fact("Status", c.status + (c.assignee ? " (held by " + c.assignee + ")" : "")),
    ...fact("Channel", c.channel + ", " + c.visibility),
    ...fact("SLA", due.text),
    ...fact("Flags", (c.flags || []).map((f) => f.kind + (f.evidence ? " (“" + f.evidence + "”)" : "")).join("; ") || "none"),
    ...fact("Reasons", (c.reasons || []).join(", ") || "none"),
    ...(c.linked_case_id ? fact("Linked private case", c.linked_case_id) : []),
    ...(c.resolution_note ? fact("Note", c.resolution_note) : [])
  );
  const items = [];
  if (!readsTexts()) items.push(el("li", {}, "Your role sees the queue, not what people wrote."));
  else if (c.texts_purged) items.push(el("li", {}, "The texts of this case were purged (retention or request)."));
  const entries = [
    ...(c.messages || []).map((m) => ({ at: m.at, m })),
    ...(c.replies || []).map((r) => ({ at: r.at, r })),
  ].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  for (const e of entries) {
    if (e.m) {
      const m = e.m;
      const a = m.author || {};
      items.push(el("li", { class: "message" },
        el("div", {},
          el("span", { class: "author" }, (a.name ? a.name + " " : "") + "@" + (a.handle || a.id)),
          " · " + (a.followers || 0) + " followers" + (a.verified ? " · verified ✔" : "") +
          " · " + m.channel + " " + m.visibility + " · " + new Date(m.at).toLocaleString()),
        el("p", { class: "text" }, highlight(m.text, (m.flags || []).map((f) => f.evidence))),
        (m.flags || []).length ? el("div", {}, "Flags: " + m.flags.map((f) => f.kind).join(", ")) : null,
        m.link ? el("a", { href: m.link, rel: "noopener noreferrer", target: "_blank" }, "Open the post") : null));
    } else {
      const r = e.r;
      items.push(el("li", { class: "reply" },
        el("div", {}, "Reply by " + r.by + " via " + r.connector + " · " + new Date(r.at).toLocaleString()),
        el("p", { class: "text" }, r.text)));
    }
  }
  $("conversation").replaceChildren(...items);
}

/** The text with each piece of evidence wrapped in <mark>, built as DOM nodes. */
function highlight(text, evidence) {
  const terms = evidence.filter((t) => t && t.length > 1);
  if (!terms.length) return [text];
  const lower = text.toLowerCase();
  const marks = [];
  for (const t of terms) {
    let from = 0, at;
    while ((at = lower.indexOf(t.toLowerCase(), from)) >= 0) { marks.push([at, at + t.length]); from = at + t.length; }
  }
  marks.sort((a, b) => a[0] - b[0]);
  const out = [];
  let pos = 0;
  for (const [s, e] of marks) {
    if (s < pos) continue;
    out.push(text.slice(pos, s), el("mark", {}, text.slice(s, e)));
    pos = e;
  }
  out.push(text.slice(pos));
  return out;
}

async function act(action) {
  const id = state.selected;
  if (!id) return;
  $("action-error").textContent = "";
  try {
    const path = "/v1/cases/" + encodeURIComponent(id) + "/" + action;
    if (action === "snooze") await api("POST", path, { minutes: Number($("snooze-minutes").value) });
    else await api("POST", path);
    await loadCase(id);
  } catch (e) {
    $("action-error").textContent = describe(e);
  }
}

function describe(e) {
  if (e.status === 409) return "Conflict: " + e.message;
  if (e.status === 429) return "Reply deferred by its budget: " + e.message + ". Nothing changed; try again shortly.";
  if (e.status === 403) return "Not allowed for your role: " + e.message;
  if (e.status === 400 && /window/i.test(e.message)) return "The messaging window has closed: " + e.message;
  return e.message;
}

async function resolveCase(ev) {
  ev.preventDefault();
  const id = state.selected;
  if (!id) return;
  $("action-error").textContent = "";
  const reply = $("resolve-reply").value.trim();
  try {
    await api("POST", "/v1/cases/" + encodeURIComponent(id) + "/resolve",
      { note: $("resolve-note").value, reply: reply || null });
    $("resolve-note").value = "";
    $("resolve-reply").value = "";
    await loadCase(id);
  } catch (e) {
    $("action-error").textContent = describe(e);
  }
}

async function bulkResolve() {
  const ids = [...state.checked];
  const reason = $("bulk-reason").value.trim();
  if (!ids.length) { $("bulk-result").textContent = "Select cases first (x or the checkboxes)."; return; }
  if (!reason) { $("bulk-result").textContent = "Give a reason."; return; }
  try {
    const result = await api("POST", "/v1/cases/bulk-resolve", { ids, reason });
    const failed = result.results.filter((r) => r.error);
    $("bulk-result").textContent = "Resolved " + result.resolved + " as noise" +
      (failed.length ? "; not resolved: " + failed.map((r) => r.id.slice(0, 8) + " (" + r.error.message + ")").join(", ") : "");
    state.checked.clear();
  } catch (e) {
    $("bulk-result").textContent = describe(e);
  }
}

// ---- crisis mode and surge --------------------------------------------------

async function refreshCrisis() {
  try {
    const mode = await api("GET", "/v1/crisis");
    const banner = $("crisis-banner");
    banner.hidden = !mode.active;
    banner.className = "banner crisis";
    banner.textContent = mode.active
      ? "⚠ CRISIS MODE ON — turned on by " + mode.actor + ": " + (mode.reason || "no reason given") +
        (mode.expires_at ? " — until " + new Date(mode.expires_at).toLocaleString() : " — until turned off")
      : "";
    $("crisis-button").textContent = mode.active ? "Turn crisis mode off" : "Turn crisis mode on";
    $("crisis-button").dataset.active = String(mode.active);
  } catch (_) { /* shown again on the next poll */ }
  try {
    const audit = await api("GET", "/v1/audit?action_prefix=surge.&limit=3");
    const recent = (audit.entries || []).filter((e) => Date.now() - Date.parse(e.at) < 3600e3);
    $("surge").hidden = !recent.length;
    $("surge").textContent = recent.length ? "Surge alert: " + recent.map((e) => e.reason + " (" + new Date(e.at).toLocaleTimeString() + ")").join("; ") : "";
  } catch (_) { /* surge alerts need the control role */ }
}

async function toggleCrisis(ev) {
  ev.preventDefault();
  const active = $("crisis-button").dataset.active !== "true";
  $("crisis-error").textContent = "";
  try {
    await api("PUT", "/v1/crisis", { active, reason: $("crisis-reason").value });
    await refreshCrisis();
  } catch (e) {
    $("crisis-error").textContent = describe(e);
  }
}

// ---- charts (inline SVG; each bar also carries its number as text) ---------

function bars(title, rows) {
  const max = Math.max(1, ...rows.map((r) => r[1]));
  const h = 22 * rows.length + 8;
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", "260");
  svg.setAttribute("height", String(h));
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", title + ": " + rows.map((r) => r[0] + " " + r[1]).join(", "));
  rows.forEach(([label, value], i) => {
    const y = 4 + i * 22;
    const t = document.createElementNS(ns, "text");
    t.setAttribute("x", "0"); t.setAttribute("y", String(y + 14)); t.textContent = label;
    const r = document.createElementNS(ns, "rect");
    r.setAttribute("x", "90"); r.setAttribute("y", String(y)); r.setAttribute("height", "16");
    r.setAttribute("width", String(Math.round(120 * value / max)));
    r.setAttribute("fill", label === "P1" ? "#8b0000" : "#44607a");
    const v = document.createElementNS(ns, "text");
    v.setAttribute("x", String(95 + Math.round(120 * value / max))); v.setAttribute("y", String(y + 14));
    v.textContent = String(value);
    svg.append(t, r, v);
  });
  return el("figure", {}, el("figcaption", {}, title), svg);
}

function renderPriorityChart() {
  const counts = { P1: 0, P2: 0, P3: 0, P4: 0 };
  for (const c of state.cases.values()) counts[c.priority] = (counts[c.priority] || 0) + 1;
  $("chart-priority").replaceChildren(bars("Open cases by priority", Object.entries(counts)));
}

async function refreshCharts() {
  renderPriorityChart();
  try {
    const insights = await api("GET", "/v1/insights");
    const all = insights.all;
    const h = all.handling || {};
    $("chart-traffic").replaceChildren(
      bars("Last hour (inbound " + all.volume + ", negative " + Math.round(100 * all.negative_share) + "%)", [
        ["inbound", all.volume],
        ["negative", all.negative],
        ["auto replies", (h.answered || 0) + (h.acknowledged || 0) + (h.held || 0)],
        ["escalations", h.escalated || 0],
      ]));
    $("themes").replaceChildren(el("h3", {}, "Top themes"),
      el("ol", {}, (all.themes || []).slice(0, 5).map((t) =>
        el("li", {}, t.count + " messages, " + t.trend + " (e.g. " + t.representative_message_id.slice(0, 8) + ")"))));
  } catch (_) {
    $("chart-traffic").replaceChildren(el("p", { class: "hint" }, "Traffic insights are not available here."));
  }
}

// ---- wiring -----------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", (e) => { e.preventDefault(); signIn($("token").value.trim()); });
  $("sign-out").addEventListener("click", () => { sessionStorage.removeItem("firebreak-token"); location.reload(); });
  $("queue").addEventListener("keydown", onQueueKey);
  for (const b of document.querySelectorAll("[data-action]")) b.addEventListener("click", () => act(b.dataset.action));
  $("resolve-form").addEventListener("submit", resolveCase);
  $("bulk-resolve").addEventListener("click", bulkResolve);
  $("crisis-toggle").addEventListener("submit", toggleCrisis);
  if (state.token) signIn(state.token);
});
