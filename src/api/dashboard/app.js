// The dashboard page. Everything it shows comes from the gateway's routes
// (the same API any client calls), with the token typed in the header:
//   GET /v1/history   the node's in-memory history, so the charts open with the past
//   GET /v1/topics, /v1/topics/{t}/stat   the table, queues and their consumers
//   GET /v1/nodes     the cluster as etcd lists it, with each node's totals
// and, as actions, the queue calls listed in ACTIONS. Views have URLs:
// #/ is the node, #/topics/<topic> one topic.
"use strict";

const POLL_MS = 1000;
const NODES_EVERY_MS = 5000;
/** Rates are averaged over this window, so a burst reads as a bump, not a saw-tooth. */
const RATE_WINDOW_MS = { seconds: 5000, minutes: 60_000 };
const SPAN_MS = { seconds: 15 * 60_000, minutes: 24 * 3_600_000 };

const $ = (id) => document.getElementById(id);
const tokenInput = $("token");
tokenInput.value = localStorage.getItem("gmq.token") || "";

// ---- talking to the node ----

async function api(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (tokenInput.value) headers.authorization = "Bearer " + tokenInput.value;
  const res = await fetch(path, { ...init, headers });
  const text = await res.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) throw new Error(body && body.reason ? body.code + " " + body.reason + ": " + body.message : res.status + " " + text);
  return body;
}

const num = (v) => Number(v || 0);
const enc = encodeURIComponent;
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const fmt = (n) => (n >= 1e9 ? (n / 1e9).toFixed(2) + "G" : n >= 1e6 ? (n / 1e6).toFixed(2) + "M" : n >= 1e4 ? (n / 1e3).toFixed(1) + "k" : n % 1 === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1));
const bytes = (n) => (n >= 2 ** 30 ? (n / 2 ** 30).toFixed(1) + " GiB" : n >= 2 ** 20 ? (n / 2 ** 20).toFixed(1) + " MiB" : n >= 1024 ? (n / 1024).toFixed(0) + " KiB" : n + " B");
const when = (ms) => (num(ms) ? new Date(num(ms)).toLocaleString() : "");

// ---- the view, from the URL ----

/** { topic: null } for the node, { topic: "orders" } for #/topics/orders, plus `id` for #/topics/orders/messages/42. */
function route() {
  const m = /^#\/topics\/([^/]+)(?:\/messages\/(\d+))?$/.exec(location.hash);
  return { topic: m ? decodeURIComponent(m[1]) : null, id: m && m[2] ? m[2] : null };
}

const messageHref = (topic, id) => "#/topics/" + enc(topic) + "/messages/" + id;

const state = {
  resolution: "seconds",
  /** "topic\0bindKey" -> { atMs: [], pushed: [], ... } for what the view shows. */
  series: new Map(),
  /** Newest sample held, for since_ms. */
  lastMs: 0,
  viewKey: "",
  nodesAt: 0,
  stats: [],
  /** The queue being peeked: { topic, bindKey, state, pages }, or null. */
  peek: null,
};

function resetHistory() {
  state.series = new Map();
  state.lastMs = 0;
}

const FIELDS = ["pushed", "delivered", "acked", "backlog", "inFlight", "delayed", "dead"];

/** Appends new samples and drops those older than the span. */
function mergeHistory(reply) {
  const cutoff = Date.now() - SPAN_MS[state.resolution];
  for (const s of reply.series || []) {
    const key = s.topic + "\0" + (s.bindKey || "");
    let held = state.series.get(key);
    if (!held) state.series.set(key, (held = { atMs: [], ...Object.fromEntries(FIELDS.map((f) => [f, []])) }));
    (s.atMs || []).forEach((t, i) => {
      held.atMs.push(num(t));
      for (const f of FIELDS) held[f].push(num(s[f] && s[f][i]));
      state.lastMs = Math.max(state.lastMs, num(t));
    });
    let drop = 0;
    while (drop < held.atMs.length && held.atMs[drop] < cutoff) drop++;
    if (drop) for (const k of ["atMs", ...FIELDS]) held[k].splice(0, drop);
  }
}

/** Per-second rate of a counter at each sample, over the samples within the window before it. */
function rates(atMs, counter, windowMs) {
  const out = new Array(atMs.length).fill(null);
  let j = 0;
  for (let i = 0; i < atMs.length; i++) {
    while (j < i && atMs[j] < atMs[i] - windowMs) j++;
    if (j === i) continue;
    const dt = (atMs[i] - atMs[j]) / 1000;
    out[i] = Math.max(0, (counter[i] - counter[j]) / dt); // a counter only drops when the node restarted
  }
  return out;
}

// ---- charts (uPlot, vendored in this directory) ----

/** Tick labels with as many decimals as the step between ticks needs, so no two read alike. */
function tickValues(_u, splits, _axis, _space, incr) {
  const decimals = incr >= 1 || !incr ? 0 : Math.min(6, Math.ceil(-Math.log10(incr)));
  return splits.map((v) => (Math.abs(v) >= 1e4 ? fmt(v) : v.toFixed(decimals)));
}

function makeChart(el, unit, lines) {
  const opts = {
    width: Math.max(300, el.clientWidth),
    height: 220,
    scales: { x: { time: true }, y: { range: (_u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [{}, { values: tickValues, size: 60, label: unit }],
    series: [{}, ...lines.map(([label, color]) => ({ label, stroke: getComputedStyle(document.documentElement).getPropertyValue(color), width: 1.5, spanGaps: false, value: (_u, v) => (v == null ? "–" : fmt(v)) }))],
    legend: { live: true },
  };
  return new uPlot(opts, [[], ...lines.map(() => [])], el);
}

const ratesChart = makeChart($("rates"), "messages/s", [["pushed", "--push"], ["delivered", "--deliver"], ["acked", "--ack"]]);
const depthChart = makeChart($("depth"), "messages", [["backlog", "--backlog"], ["in flight", "--deliver"], ["delayed", "--push"], ["dead", "--bad"]]);
// What the browser test reads to see the charts' data.
window.gmqDashboard = { ratesChart, depthChart };
window.addEventListener("resize", () => {
  for (const c of [ratesChart, depthChart]) c.setSize({ width: Math.max(300, c.root.parentElement.clientWidth - 24), height: 220 });
});

function drawCharts(view) {
  const s = state.series.get((view.topic || "") + "\0");
  const label = view.topic === null ? "all topics" : "topic " + view.topic;
  $("rates-title").textContent = "rates, " + label + " (messages/s, over " + RATE_WINDOW_MS[state.resolution] / 1000 + " s)";
  $("depth-title").textContent = "depth, " + label + " (messages)";
  const x = s ? s.atMs.map((t) => t / 1000) : [];
  const w = RATE_WINDOW_MS[state.resolution];
  ratesChart.setData([x, ...(s ? ["pushed", "delivered", "acked"].map((f) => rates(s.atMs, s[f], w)) : [[], [], []])]);
  depthChart.setData([x, ...(s ? ["backlog", "inFlight", "delayed", "dead"].map((f) => s[f]) : [[], [], [], []])]);
  return s;
}

// ---- actions ----

const queuePath = (t) => "/v1/topics/" + enc(t.topic) + "/queues/" + enc(t.bindKey);

/**
 * What an operator may do from the page. Each entry is one API call on a
 * queue (`on: "queue"`) or on one message of a queue (`on: "message"`); the
 * page asks for confirmation (and for `input` when the call takes one), calls
 * it with the typed token and shows the answer. A new call is one more entry
 * here. A target is { topic, bindKey, id? }; `show` sees the queue's stats or
 * the message's lookup.
 */
const ACTIONS = [
  {
    id: "redrive",
    on: "queue",
    label: "redrive dead",
    show: (q) => num(q.dead) > 0,
    confirm: (t) => "Move every dead letter of queue " + t.bindKey + " (topic " + t.topic + ") back to ready?",
    call: (t) => api(queuePath(t) + "/dead:redrive", post({})),
    done: (r) => "moved " + num(r.moved) + " dead letters back",
  },
  {
    id: "pop-dead",
    on: "queue",
    label: "pop dead",
    show: (q) => num(q.dead) > 0,
    confirm: (t) => "Remove the oldest dead letter of queue " + t.bindKey + " (topic " + t.topic + ")? It is shown once and then gone.",
    call: (t) => api(queuePath(t) + "/dead:pop", post({})),
    done: (r) => "popped:\n" + JSON.stringify(decodeBody(r.message), null, 2),
  },
  {
    id: "purge",
    on: "queue",
    label: "purge",
    show: (q) => num(q.ready) + num(q.delayed) + num(q.dead) > 0,
    confirm: (t) => "Remove every ready, delayed and dead message of queue " + t.bindKey + " (topic " + t.topic + ") for good? Messages in flight stay.",
    call: (t) => api(queuePath(t) + ":purge", post({ what: "PURGE_TARGET_ALL" })),
    done: (r) => "purged " + num(r.purged) + " (ready " + num(r.ready) + ", delayed " + num(r.delayed) + ", dead " + num(r.dead) + ")",
  },
  {
    id: "delete",
    on: "message",
    label: "delete",
    show: (m) => ["MESSAGE_STATE_READY", "MESSAGE_STATE_DELAYED", "MESSAGE_STATE_DEAD"].includes(m.state),
    confirm: (t) => "Delete message " + t.id + " from queue " + t.bindKey + " (topic " + t.topic + ") for good? It will never be delivered.",
    call: (t) => api(queuePath(t) + "/messages/" + t.id, { method: "DELETE" }),
    done: () => "deleted",
  },
  {
    id: "reschedule",
    on: "message",
    label: "reschedule",
    show: (m) => ["MESSAGE_STATE_READY", "MESSAGE_STATE_DELAYED"].includes(m.state),
    confirm: (t) => "Deliver message " + t.id + " of queue " + t.bindKey + " (topic " + t.topic + ") after a new delay, counted from now:",
    input: { label: "delay in seconds", value: "60" },
    call: (t, seconds) => {
      const s = Number(seconds);
      if (!Number.isFinite(s) || s < 0) return Promise.reject(new Error("the delay must be a number of seconds, 0 or more"));
      return api(queuePath(t) + "/messages/" + t.id + ":reschedule", post({ delayMs: String(Math.round(s * 1000)) }));
    },
    done: (r) => "due at " + when(r.dueAtMs),
  },
];

const post = (body) => ({ method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

/** A message with its body shown as text when it is UTF-8. */
function decodeBody(m) {
  if (!m || typeof m.body !== "string") return m;
  try {
    return { ...m, body: new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(atob(m.body), (c) => c.charCodeAt(0))) };
  } catch {
    return m;
  }
}

/** Resolves to the typed input (or true without one) when confirmed, to null when cancelled. */
function confirmAction(text, input) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  $("confirm-field").hidden = !input;
  if (input) {
    $("confirm-label").textContent = input.label;
    $("confirm-input").value = input.value;
  }
  dialog.showModal();
  return new Promise((resolve) => {
    const finish = (ok) => () => {
      dialog.close();
      $("confirm-ok").onclick = $("confirm-cancel").onclick = null;
      resolve(ok ? (input ? $("confirm-input").value : true) : null);
    };
    $("confirm-ok").onclick = finish(true);
    $("confirm-cancel").onclick = finish(false);
  });
}

async function runAction(id, target) {
  const action = ACTIONS.find((a) => a.id === id);
  const answer = action && (await confirmAction(action.confirm(target), action.input));
  if (answer === null || answer === undefined) return;
  const out = $("result");
  const what = target.topic + "/" + target.bindKey + (target.id ? " message " + target.id : "") + ": ";
  try {
    out.className = "";
    out.textContent = what + action.done(await action.call(target, answer));
  } catch (err) {
    out.className = "bad";
    out.textContent = what + "refused: " + err.message;
  }
  poll();
  if (target.id) showMessage(route());
  else if (state.peek) showPeek();
}

const actionButtons = (on, subject, target) =>
  ACTIONS.filter((a) => a.on === on && a.show(subject))
    .map((a) => '<button class="danger" data-action="' + a.id + '" data-topic="' + esc(target.topic) + '" data-queue="' + esc(target.bindKey) + '"' + (target.id ? ' data-id="' + esc(target.id) + '"' : "") + ">" + esc(a.label) + "</button>")
    .join(" ");

for (const el of [$("rows"), $("messages")]) {
  el.addEventListener("click", (e) => {
    const b = e.target.closest("button[data-action]");
    if (b) runAction(b.dataset.action, { topic: b.dataset.topic, bindKey: b.dataset.queue, id: b.dataset.id });
    const p = e.target.closest("button[data-peek]");
    if (p) {
      state.peek = { topic: p.dataset.topic, bindKey: p.dataset.peek, state: "ready", pages: [] };
      showPeek();
    }
  });
}

// ---- single messages: peek a queue, look one up, its trace ----

/** "MESSAGE_STATE_IN_FLIGHT" as "in flight", "TRACE_EVENT_KIND_TTR_EXPIRED" as "ttr expired". */
const enumName = (value, prefix) => String(value || "").replace(prefix, "").replace(/_/g, " ").toLowerCase();
const PEEK_PAGE = 20;

/** Pages through the peeked queue; `pages` holds the after_id of each page shown before. */
async function showPeek() {
  const p = state.peek;
  const el = $("messages");
  const after = p.pages.length ? p.pages[p.pages.length - 1] : "0";
  try {
    const r = await api(queuePath(p) + "/messages?state=PEEK_STATE_" + p.state.toUpperCase() + "&limit=" + PEEK_PAGE + "&after_id=" + after + "&include_body=true");
    const rows = (r.messages || []).map((m) => {
      const d = decodeBody(m);
      return '<tr class="peeked">' + cols(['<a class="msg" href="' + esc(messageHref(p.topic, m.id)) + '">' + esc(m.id) + "</a>", esc(when(m.createdAtMs)), esc(when(m.dueAtMs)), num(m.retry), bytes(num(m.bodyBytes)), '<span class="body">' + esc(String(d.body).slice(0, 80)) + "</span>"]) + "</tr>";
    });
    p.last = r.messages && r.messages.length === PEEK_PAGE ? r.messages[r.messages.length - 1].id : null;
    el.innerHTML =
      '<h2 class="section">queue ' + esc(p.bindKey) + " of topic " + esc(p.topic) + ", " +
      '<select id="peek-state">' + ["ready", "delayed", "dead"].map((s) => "<option" + (s === p.state ? " selected" : "") + ">" + s + "</option>").join("") + "</select> messages, page " + (p.pages.length + 1) +
      ' <button id="peek-prev"' + (p.pages.length ? "" : " disabled") + ">previous</button> <button id=\"peek-next\"" + (p.last ? "" : " disabled") + ">next</button> <button id=\"peek-close\">close</button></h2>" +
      '<table><thead><tr><th>id</th><th>created</th><th>due</th><th>retry</th><th>size</th><th>body</th></tr></thead><tbody>' +
      (rows.length ? rows.join("") : '<tr><td class="empty" colspan="6">no ' + p.state + " messages</td></tr>") + "</tbody></table>";
    $("peek-state").onchange = (e) => {
      state.peek = { ...p, state: e.target.value, pages: [] };
      showPeek();
    };
    $("peek-next").onclick = () => {
      p.pages.push(p.last);
      showPeek();
    };
    $("peek-prev").onclick = () => {
      p.pages.pop();
      showPeek();
    };
    $("peek-close").onclick = () => {
      state.peek = null;
      el.innerHTML = "";
    };
  } catch (err) {
    el.innerHTML = '<p class="bad">peek ' + esc(p.topic + "/" + p.bindKey) + ": " + esc(err.message) + "</p>";
  }
}

const EVENT_DETAIL = (e) =>
  [
    e.bindKey ? "queue " + e.bindKey : "",
    e.routeKey ? "route key " + e.routeKey : "",
    e.queues && e.queues.length ? "reached " + e.queues.join(", ") : "",
    e.duplicate ? "duplicate" : "",
    num(e.retry) ? "retry " + num(e.retry) : "",
    num(e.untilMs) ? "until " + when(e.untilMs) : "",
    e.consumer && e.consumer !== "TRACE_CONSUMER_KIND_UNSPECIFIED" ? "by " + enumName(e.consumer, "TRACE_CONSUMER_KIND_") : "",
    e.peer ? "from " + e.peer : "",
    e.tokenName ? "token " + e.tokenName : "",
    num(e.nodeId) ? "node " + num(e.nodeId) : "",
  ]
    .filter(Boolean)
    .join(" · ");

const timeOf = (ms) => {
  const d = new Date(num(ms));
  return d.toLocaleTimeString() + "." + String(d.getMilliseconds()).padStart(3, "0");
};

/** The message view: each queue's copy with its state and actions, its body, and its trace when the topic records one. */
async function showMessage(view) {
  const el = $("messages");
  const head = '<h2 class="section">message ' + esc(view.id) + " of topic " + esc(view.topic) + "</h2>";
  const [found, trace] = await Promise.all([
    api("/v1/topics/" + enc(view.topic) + "/messages/" + view.id + "?include_body=true").then((r) => r, (err) => err),
    api("/v1/topics/" + enc(view.topic) + "/messages/" + view.id + "/trace").then((r) => r, (err) => err),
  ]);
  if (route().id !== view.id) return; // the user moved on meanwhile
  const copies =
    found instanceof Error
      ? '<p class="bad" id="lookup-error">' + esc(found.message) + "</p>"
      : '<table><thead><tr><th>queue</th><th>state</th><th>retry</th><th>created</th><th>due</th><th>deadline</th><th>size</th><th></th></tr></thead><tbody>' +
        found.copies
          .map((m) => '<tr class="copy" data-queue="' + esc(m.bindKey) + '">' + cols([esc(m.bindKey), '<span class="state">' + esc(enumName(m.state, "MESSAGE_STATE_")) + "</span>", num(m.retry), esc(when(m.createdAtMs)), esc(when(m.dueAtMs)), esc(when(m.deadlineMs)), bytes(num(m.bodyBytes)), actionButtons("message", m, { topic: view.topic, bindKey: m.bindKey, id: view.id })]) + "</tr>")
          .join("") +
        "</tbody></table>" +
        (found.copies[0] && found.copies[0].body ? '<pre id="message-body">' + esc(decodeBody(found.copies[0]).body) + "</pre>" : "");
  const events =
    trace instanceof Error
      ? '<p id="trace-off">' + esc(/TRACE_OFF/.test(trace.message) ? "This topic records no trace; turn it on with gmq config " + view.topic + " --trace." : trace.message) + "</p>"
      : '<ol id="trace">' + trace.events.map((e) => '<li><time>' + esc(timeOf(e.atMs)) + '</time> <b class="event">' + esc(enumName(e.kind, "TRACE_EVENT_KIND_")) + "</b> " + esc(EVENT_DETAIL(e)) + "</li>").join("") + "</ol>";
  el.innerHTML = head + copies + '<h2 class="section">trace</h2>' + events;
}

$("find").addEventListener("submit", (e) => {
  e.preventDefault();
  const id = $("find-id").value.trim();
  const view = route();
  if (/^\d+$/.test(id) && view.topic !== null) location.hash = messageHref(view.topic, id);
});

// ---- rendering ----

function cards(el, list) {
  el.innerHTML = list.map(([k, v]) => '<div class="card"><div class="v">' + esc(v) + '</div><div class="k">' + esc(k) + "</div></div>").join("");
}

function renderCards(view, s, stats) {
  const last = (f) => (s && s[f].length ? s[f][s[f].length - 1] : 0);
  const lastRate = (f) => {
    if (!s) return 0;
    const r = rates(s.atMs, s[f], RATE_WINDOW_MS[state.resolution]);
    return r.length ? r[r.length - 1] || 0 : 0;
  };
  const consumers = stats.reduce((n, t) => n + (t.queues || []).reduce((m, q) => m + (q.consumers || []).length, 0), 0);
  cards($("cards"), [
    view.topic === null ? ["topics", stats.length] : ["queues", stats[0] ? stats[0].queues.length : 0],
    ["push/s", fmt(lastRate("pushed"))],
    ["deliver/s", fmt(lastRate("delivered"))],
    ["ack/s", fmt(lastRate("acked"))],
    ["backlog", fmt(last("backlog"))],
    ["in flight", fmt(last("inFlight"))],
    ["delayed", fmt(last("delayed"))],
    ["dead", fmt(last("dead"))],
    ["consumers", consumers],
  ]);
}

const cols = (cells) => cells.map((c, i) => (i ? "<td>" + c + "</td>" : "<td>" + c + "</td>")).join("");

function queueRow(topic, q, withActions) {
  const buttons = withActions ? '<button data-peek="' + esc(q.bindKey) + '" data-topic="' + esc(topic) + '">peek</button> ' + actionButtons("queue", q, { topic, bindKey: q.bindKey }) : "";
  return '<tr class="queue" data-queue="' + esc(q.bindKey) + '">' + cols([esc(q.bindKey), fmt(num(q.ready)), fmt(num(q.inFlight)), fmt(num(q.delayed)), '<span class="' + (num(q.dead) ? "bad" : "") + '">' + fmt(num(q.dead)) + "</span>", fmt(num(q.pushed)), bytes(num(q.bytesOnDisk)), (q.consumers || []).length, buttons]) + "</tr>";
}

const KIND = { CONSUMER_KIND_GRPC_STREAM: "gRPC stream", CONSUMER_KIND_HTTP_STREAM: "HTTP stream", CONSUMER_KIND_LONG_POLL: "long poll" };

function renderTable(view, stats) {
  $("rows-head").innerHTML = "<tr><th>topic / queue</th><th>backlog</th><th>in flight</th><th>delayed</th><th>dead</th><th>pushed</th><th>on disk</th><th>consumers</th><th></th></tr>";
  const rows = [];
  for (const t of stats) {
    const consumers = t.queues.reduce((n, q) => n + (q.consumers || []).length, 0);
    const disk = t.queues.reduce((n, q) => n + num(q.bytesOnDisk), 0);
    rows.push('<tr class="topic">' + cols(['<a class="topic" href="#/topics/' + esc(enc(t.topic)) + '">' + esc(t.topic) + "</a>", fmt(num(t.backlog)), fmt(num(t.inFlight)), fmt(num(t.delayed)), fmt(num(t.dead)), fmt(num(t.pushed)), bytes(disk), consumers, ""]) + "</tr>");
    for (const q of t.queues) {
      rows.push(queueRow(t.topic, q, view.topic !== null));
      if (view.topic === null) continue;
      for (const c of q.consumers || []) {
        rows.push('<tr class="consumer">' + cols([esc(KIND[c.kind] || c.kind) + " " + esc(c.peer), "credit " + num(c.credit), "in flight " + num(c.inFlight), "", "", "", "", "since " + esc(new Date(num(c.sinceMs)).toLocaleTimeString()), ""]) + "</tr>");
      }
    }
  }
  $("rows").innerHTML = rows.length ? rows.join("") : '<tr><td class="empty" colspan="9">no topics yet</td></tr>';
}

function renderNodes(reply) {
  $("cluster-title").textContent = reply.clustered ? "cluster: " + reply.nodes.length + " nodes registered in etcd" : "this node (standalone: no etcd)";
  const t = reply.totals || {};
  cards($("cluster-cards"), [
    ["nodes", reply.nodes.length],
    ["topics", fmt(num(t.topics))],
    ["pushed", fmt(num(t.pushed))],
    ["backlog", fmt(num(t.backlog))],
    ["in flight", fmt(num(t.inFlight))],
    ["dead", fmt(num(t.dead))],
    ["consumers", fmt(num(t.consumers))],
  ]);
  $("node-rows").innerHTML = reply.nodes
    .map((n) => {
      const tt = n.totals;
      const v = (k) => (tt ? fmt(num(tt[k])) : "");
      return '<tr class="cluster-node">' + cols([esc(n.nodeId) + (n.self ? " (this)" : ""), esc(n.httpAddr), esc(n.grpcAddr), num(n.weight), esc(n.version), esc(when(n.startedAtMs)), v("topics"), v("pushed"), v("backlog"), v("inFlight"), v("dead"), v("consumers"), '<span class="bad">' + esc(n.error || "") + "</span>"]) + "</tr>";
    })
    .join("");
}

// ---- the loop ----

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  const view = route();
  const key = (view.topic || "") + "\0" + state.resolution;
  if (key !== state.viewKey) {
    state.viewKey = key;
    resetHistory();
  }
  $("crumbs").textContent = view.topic === null ? "all topics" : "› topic " + view.topic + (view.id ? " › message " + view.id : "");
  try {
    const q = "?resolution=" + (state.resolution === "minutes" ? "HISTORY_RESOLUTION_MINUTES" : "HISTORY_RESOLUTION_SECONDS") + (view.topic ? "&topic=" + enc(view.topic) : "") + (state.lastMs ? "&since_ms=" + state.lastMs : "");
    const names = view.topic === null ? (await api("/v1/topics")).topics.map((t) => t.topic) : [view.topic];
    const [history, stats] = await Promise.all([api("/v1/history" + q), Promise.all(names.map((t) => api("/v1/topics/" + enc(t) + "/stat").then((r) => r.stat, () => null)))]);
    mergeHistory(history);
    const held = stats.filter(Boolean).sort((a, b) => a.topic.localeCompare(b.topic));
    state.stats = held;
    renderCards(view, drawCharts(view), held);
    renderTable(view, held);
    if (Date.now() - state.nodesAt >= NODES_EVERY_MS) {
      state.nodesAt = Date.now();
      api("/v1/nodes").then(renderNodes, (err) => ($("cluster-title").textContent = "cluster: " + err.message));
    }
    $("status").textContent = "updated " + new Date().toLocaleTimeString() + (history.truncated ? " · some series not kept (--history-max-series)" : "");
    $("status").className = "";
  } catch (err) {
    $("status").textContent = String(err.message || err);
    $("status").className = "bad";
  } finally {
    polling = false;
  }
}

async function start() {
  try {
    const ping = await api("/v1/ping");
    $("node").textContent = "node " + ping.nodeId + " · v" + ping.version + " · up since " + when(ping.startedAtMs);
  } catch (err) {
    $("node").textContent = String(err.message || err);
  }
  poll();
  setInterval(poll, POLL_MS);
}

tokenInput.addEventListener("change", () => {
  localStorage.setItem("gmq.token", tokenInput.value);
  state.nodesAt = 0;
  resetHistory();
  poll();
});
$("resolution").addEventListener("change", (e) => {
  state.resolution = e.target.value;
  poll();
});
/** What the messages panel shows for the URL: a message, the queue being peeked, or nothing. */
function showView() {
  const view = route();
  $("find").hidden = view.topic === null;
  if (view.id) showMessage(view);
  else if (state.peek && state.peek.topic === view.topic) showPeek();
  else {
    state.peek = null;
    $("messages").innerHTML = "";
  }
}

window.addEventListener("hashchange", () => {
  $("result").textContent = "";
  showView();
  poll();
});
showView();
start();
