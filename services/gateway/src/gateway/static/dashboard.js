// Backdrop operations dashboard: signs in with the public auth API, then polls /v1/admin/*.
// Every value from the server is written with textContent (never as HTML).
"use strict";

const POLL_MS = 2000;
const ROLES = ["user", "operator", "admin"];
const UNFINISHED = new Set(["awaiting_upload", "queued", "running"]);
const state = { tokens: null, view: "queues", filters: {}, timer: null, selected: { tasks: new Set(), failed: new Set() } };

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === "class") node.className = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    // Through CSSOM: the Content Security Policy refuses style attributes.
    else if (key === "style") Object.assign(node.style, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function show(id, visible) { $(id).hidden = !visible; }

function hasRole(roles, wanted) {
  const need = ROLES.indexOf(wanted);
  return (roles || []).some((r) => ROLES.indexOf(r) >= need);
}

// ---- formatting -------------------------------------------------------------------------
function age(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}
function since(iso) { return iso ? age((Date.now() - Date.parse(iso)) / 1000) + " ago" : "–"; }
function clock(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}
function shortId(id) { return el("span", { class: "id", title: id }, id ? id.slice(0, 8) : "–"); }
function status(s) { return el("span", { class: `status ${s}` }, s); }
function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString(); }
function errorText(task) { return task.error ? `${task.error.code}: ${task.error.message || ""}` : ""; }

// ---- API ----------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(status, doc) { super(doc && doc.detail ? doc.detail : `HTTP ${status}`); this.status = status; this.doc = doc; }
}

async function request(path, { method = "GET", body, auth = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (auth && state.tokens) headers.Authorization = `Bearer ${state.tokens.access_token}`;
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit" });
  const doc = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, doc);
  return doc;
}

async function api(path, options) {
  try {
    return await request(path, options);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 401 || !state.tokens) throw err;
    // The access token expired (or was revoked): one refresh, then sign in again.
    try {
      saveTokens(await request("/v1/auth/refresh", { method: "POST", body: { refresh_token: state.tokens.refresh_token }, auth: false }));
    } catch (_) {
      signOut("Your session ended; sign in again.");
      throw err;
    }
    return request(path, options);
  }
}

function saveTokens(tokens) {
  state.tokens = tokens;
  if (tokens) sessionStorage.setItem("backdrop.tokens", JSON.stringify(tokens));
  else sessionStorage.removeItem("backdrop.tokens");
}

// ---- sign in / out ---------------------------------------------------------------------------
async function onLogin(event) {
  event.preventDefault();
  $("login-error").textContent = "";
  try {
    const body = { identifier: $("identifier").value.trim(), password: $("password").value };
    saveTokens(await request("/v1/auth/login", { method: "POST", body, auth: false }));
    $("password").value = "";
    await start();
  } catch (err) {
    $("login-error").textContent = err.status === 401 ? "Wrong email, username or password." : err.message;
  }
}

function signOut(message) {
  clearTimeout(state.timer);
  if (state.tokens) request("/v1/auth/logout", { method: "POST", body: { refresh_token: state.tokens.refresh_token } }).catch(() => {});
  saveTokens(null);
  for (const id of ["app-view", "denied-view", "session"]) show(id, false);
  show("login-view", true);
  $("login-error").textContent = message || "";
}

async function start() {
  const me = await api("/v1/auth/me");
  show("login-view", false);
  show("session", true);
  $("whoami").textContent = `${me.username} (${me.roles[me.roles.length - 1]})`;
  if (!hasRole(me.roles, "operator")) {
    show("denied-view", true);
    $("live").hidden = true;
    return;
  }
  $("live").hidden = false;
  show("app-view", true);
  poll();
}

// ---- polling ------------------------------------------------------------------------------
async function poll() {
  clearTimeout(state.timer);
  try {
    const [queues, workers] = await Promise.all([api("/v1/admin/queues"), api("/v1/admin/workers")]);
    renderQueues(queues);
    renderWorkers(workers);
    if (state.view === "tasks") renderTasks(await api(`/v1/admin/tasks?${new URLSearchParams(state.filters)}`));
    if (state.view === "failed") renderFailed(await api("/v1/admin/tasks?status=failed&limit=100"));
    $("live").classList.remove("stale");
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
    show("app-error", false);
  } catch (err) {
    if (!state.tokens) return;
    $("live").classList.add("stale");
    $("app-error").textContent = err.status === 403 ? "Your account lost the operator role." : `Cannot refresh: ${err.message}`;
    show("app-error", true);
  }
  state.timer = setTimeout(poll, POLL_MS);
}

function fill(tableId, rows, emptyText, columns) {
  const tbody = $(tableId).tBodies[0];
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { class: "empty", colspan: columns }, emptyText))]));
}

// ---- views --------------------------------------------------------------------------------
function renderQueues(doc) {
  const counts = doc.tasks_by_status || {};
  const cards = ["queued", "running", "succeeded", "failed", "cancelled"].map((s) =>
    el("div", { class: `stat ${s}`, dataset: { status: s } }, el("b", {}, num(counts[s] || 0)), el("span", {}, s)));
  $("status-cards").replaceChildren(...cards);
  $("badge-failed").textContent = counts.failed ? String(counts.failed) : "";

  const minutes = doc.throughput || [];
  const peak = Math.max(1, ...minutes.map((m) => m.succeeded + m.failed + m.cancelled));
  let total = 0;
  $("throughput").replaceChildren(...minutes.map((m, i) => {
    total += m.succeeded + m.failed + m.cancelled;
    const part = (kind) => el("i", { class: kind, style: { height: `${(100 * m[kind]) / peak}%` }, title: `${m[kind]} ${kind}` });
    const label = i % 5 === minutes.length % 5 ? el("span", {}, new Date(m.minute).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })) : null;
    return el("div", { class: "col", title: `${clock(m.minute)}: ${m.succeeded} succeeded, ${m.failed} failed, ${m.cancelled} cancelled` },
      part("succeeded"), part("failed"), part("cancelled"), label);
  }));
  $("throughput-total").textContent = `${total} in the last ${minutes.length} min`;

  fill("queues-table", doc.items.map((q) => el("tr", { dataset: { processor: q.processor } },
    el("td", {}, el("b", {}, q.processor)),
    el("td", {}, num(q.queued)),
    el("td", {}, num(q.held)),
    el("td", {}, num(q.running)),
    el("td", { class: q.oldest_waiting_age_s > 60 ? "warn" : "" }, age(q.oldest_waiting_age_s)),
    el("td", {}, num(q.length)),
    el("td", {}, num(q.lag)),
    el("td", {}, num(q.pending)),
    el("td", {}, q.consumers.length ? q.consumers.map((c) => c.name).join(", ") : el("span", { class: "warn" }, "none")),
  )), "No processor has a queue yet.", 9);
}

function renderWorkers(doc) {
  $("badge-workers").textContent = String(doc.live.length);
  fill("workers-table", doc.live.map((w) => el("tr", { dataset: { worker: w.worker_id } },
    el("td", {}, el("b", {}, w.worker_id)),
    el("td", {}, w.host),
    el("td", {}, w.pid === null ? "–" : String(w.pid)),
    el("td", {}, w.processors.join(", ")),
    el("td", {}, `${w.jobs.length} / ${w.concurrency}`),
    el("td", {}, age(w.last_seen_age_s) + " ago"),
    el("td", {}, clock(w.started_at)),
    el("td", {}, w.health_url ? el("code", {}, w.health_url) : "–"),
  )), "No worker is alive.", 8);
  fill("silent-table", doc.silent.map((w) => el("tr", { dataset: { worker: w.worker_id } },
    el("td", {}, el("b", {}, w.worker_id)),
    el("td", {}, num(w.pending)),
    el("td", {}, age(w.idle_s)),
    el("td", {}, num(w.running_tasks)),
  )), "None: every consumer is alive.", 4);
}

function selectBox(kind, id) {
  return el("input", { type: "checkbox", "aria-label": `Select ${id}`, checked: state.selected[kind].has(id),
    onchange: (e) => { e.target.checked ? state.selected[kind].add(id) : state.selected[kind].delete(id); syncBulk(); } });
}

function actionButton(task) {
  if (task.status === "failed") return el("button", { class: "small", type: "button", onclick: () => act("retry", [task.id]) }, "Retry");
  if (UNFINISHED.has(task.status) && !task.cancel_requested) return el("button", { class: "small danger", type: "button", onclick: () => act("cancel", [task.id]) }, "Cancel");
  return task.cancel_requested && task.status === "running" ? el("span", { class: "muted" }, "stopping…") : null;
}

function progress(task) {
  const f = task.progress && task.progress.fraction ? task.progress.fraction : 0;
  if (task.status !== "running") return "";
  return el("span", { title: task.progress.stage || "" }, el("span", { class: "bar" }, el("i", { style: { width: `${Math.round(f * 100)}%` } })), ` ${Math.round(f * 100)}%`);
}

function renderTasks(doc) {
  const ids = new Set(doc.items.map((t) => t.id));
  for (const id of state.selected.tasks) if (!ids.has(id)) state.selected.tasks.delete(id);
  fill("tasks-table", doc.items.map((t) => el("tr", { dataset: { id: t.id, status: t.status } },
    el("td", {}, UNFINISHED.has(t.status) ? selectBox("tasks", t.id) : null),
    el("td", {}, clock(t.created_at)),
    el("td", {}, shortId(t.id), el("div", { class: "muted" }, t.filename)),
    el("td", {}, shortId(t.owner_id)),
    el("td", {}, t.processor),
    el("td", {}, status(t.status)),
    el("td", {}, progress(t)),
    el("td", {}, `${t.attempts} / ${t.max_attempts}`),
    el("td", {}, errorText(t)),
    el("td", {}, actionButton(t)),
  )), "No task matches.", 10);
  syncBulk();
}

function renderFailed(doc) {
  const ids = new Set(doc.items.map((t) => t.id));
  for (const id of state.selected.failed) if (!ids.has(id)) state.selected.failed.delete(id);
  fill("failed-table", doc.items.map((t) => el("tr", { dataset: { id: t.id, status: t.status } },
    el("td", {}, selectBox("failed", t.id)),
    el("td", {}, clock(t.finished_at)),
    el("td", {}, shortId(t.id), el("div", { class: "muted" }, t.filename)),
    el("td", {}, shortId(t.owner_id)),
    el("td", {}, t.processor),
    el("td", {}, `${t.attempts} / ${t.max_attempts}`),
    el("td", {}, el("b", {}, t.error ? t.error.code : ""), el("div", {}, t.error ? t.error.message : ""),
      t.attempt_errors.length > 1 ? el("div", { class: "muted" }, `${t.attempt_errors.length} attempts failed`) : null),
    el("td", {}, actionButton(t)),
  )), "No failed task. Nothing to do.", 8);
  syncBulk();
}

function syncBulk() {
  $("tasks-cancel-selected").disabled = state.selected.tasks.size === 0;
  $("failed-retry-selected").disabled = state.selected.failed.size === 0;
}

// ---- actions ------------------------------------------------------------------------------
function confirmAction(title, text, label) {
  const dialog = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = label;
  $("confirm-yes").className = label.startsWith("Cancel") ? "danger" : "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function act(action, ids) {
  const n = ids.length === 1 ? "this task" : `${ids.length} tasks`;
  const ok = action === "retry"
    ? await confirmAction("Retry?", `Send ${n} back to the queue with a fresh set of attempts?`, "Retry")
    : await confirmAction("Cancel?", `Cancel ${n}? A running task is told to stop; this cannot be undone.`, "Cancel tasks");
  if (!ok) return;
  try {
    await api(`/v1/admin/tasks/${action}`, { method: "POST", body: { ids } });
    for (const id of ids) { state.selected.tasks.delete(id); state.selected.failed.delete(id); }
  } catch (err) {
    $("app-error").textContent = `${action} failed: ${err.message}`;
    show("app-error", true);
  }
  poll();
}

function switchView(view) {
  state.view = view;
  for (const button of document.querySelectorAll(".tabs button")) button.classList.toggle("active", button.dataset.view === view);
  for (const name of ["queues", "workers", "tasks", "failed"]) show(`view-${name}`, name === view);
  poll();
}

function selectAll(event) {
  const table = event.target.closest("table");
  const kind = table.id === "tasks-table" ? "tasks" : "failed";
  for (const box of table.tBodies[0].querySelectorAll("input[type=checkbox]")) {
    box.checked = event.target.checked;
    box.dispatchEvent(new Event("change"));
  }
  if (!event.target.checked) state.selected[kind].clear();
  syncBulk();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", () => signOut());
  for (const button of document.querySelectorAll(".tabs button")) button.addEventListener("click", () => switchView(button.dataset.view));
  for (const box of document.querySelectorAll(".select-all")) box.addEventListener("change", selectAll);
  $("task-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    state.filters = Object.fromEntries([...new FormData(event.target)].filter(([, v]) => v.trim() !== "").map(([k, v]) => [k, v.trim()]));
    poll();
  });
  $("tasks-cancel-selected").addEventListener("click", () => act("cancel", [...state.selected.tasks]));
  $("failed-retry-selected").addEventListener("click", () => act("retry", [...state.selected.failed]));
  const saved = sessionStorage.getItem("backdrop.tokens");
  if (saved) {
    state.tokens = JSON.parse(saved);
    start().catch(() => signOut());
  } else {
    show("login-view", true);
  }
});
