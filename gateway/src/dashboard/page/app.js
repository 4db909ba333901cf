// The fleet dashboard. Plain JS, no build step: the gateway serves this file
// as it is. State comes from the API (/api/rigs every second, /api/events as
// Server-Sent Events); the DOM is redrawn at most once per animation frame,
// and the event log keeps its last LOG_LINES lines, so 50 rigs and 1,000
// events a second stay smooth.
"use strict";

const LOG_LINES = 500;
const COMPACT_FROM = 12; // rigs
const RIGS_EVERY_MS = 1000;
// Commands that change what a rig does are confirmed first.
const CONFIRM = /START|STOP|EMERGENCY/;

const state = {
  session: null,      // {operator, role, csrfToken}
  catalog: null,      // /api/catalog
  rigs: new Map(),    // name -> record (with lastStatus)
  serverSkew: 0,      // server time - page time, seconds
  selected: null,     // the rig of the panel
  pending: new Map(), // nonce -> {rig, command}
  queue: [],          // events not yet drawn
  emergency: null,    // the last emergency: {rig, at, text}
  latencies: [],      // ms from the gateway reading a live event to it drawn
  transport: [],      // ms from the gateway reading a live event to it received here
  fromRig: [],        // ms from the rig stamping a live event (its `when`) to it drawn
  liveSince: null,    // when the event stream first opened (ms)
  total: 0,           // events received
  rigsDirty: true,    // the grid needs drawing
};
window.dashboard = state; // for the browser tests and the curious

const $ = (id) => document.getElementById(id);
const el = (tag, cls, text) => {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
};

// ---------------------------------------------------------------- API

async function api(path, options = {}) {
  const headers = options.headers || {};
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (options.method && options.method !== "GET" && state.session && state.session.csrfToken) {
    headers["X-CSRF-Token"] = state.session.csrfToken;
  }
  const response = await fetch(path, { ...options, headers, credentials: "same-origin" });
  let body = null;
  try { body = await response.json(); } catch (_) { body = null; }
  if (!response.ok) {
    const error = new Error((body && body.error) || response.statusText);
    error.status = response.status;
    throw error;
  }
  return body;
}

// ---------------------------------------------------------------- names

function generationOf(rig) {
  const record = state.rigs.get(rig);
  return record && record.protocol === "0.12" ? "0.12" : "0.9";
}

function nameOf(list, code) {
  const found = (list || []).find((item) => item.code === code);
  return found ? found.name : String(code);
}

function catalogOf(rig) {
  return (state.catalog && state.catalog[generationOf(rig)]) || {};
}

// ---------------------------------------------------------------- session

async function start() {
  wire();
  try {
    state.session = await api("/api/session");
    await signedIn();
  } catch (_) {
    $("sign-in").hidden = false;
  }
}

async function signedIn() {
  const session = state.session;
  $("sign-in").hidden = true;
  $("app").hidden = false;
  $("who").textContent = `${session.operator} (${session.role})`;
  $("sign-out").hidden = false;
  const mayCommand = session.role !== "viewer";
  $("stop-all").hidden = false;
  $("stop-all").disabled = !mayCommand;
  $("panel-readonly").hidden = mayCommand;
  $("send-command").disabled = !mayCommand;
  state.catalog = await api("/api/catalog");
  await refreshRigs();
  setInterval(refreshRigs, RIGS_EVERY_MS);
  setInterval(redrawRigs, 1000); // heartbeat ages move on
  listen();
}

function wire() {
  $("sign-in").addEventListener("submit", async (event) => {
    event.preventDefault();
    $("sign-in-error").textContent = "";
    try {
      state.session = await api("/api/session", {
        method: "POST",
        body: JSON.stringify({ token: $("sign-in-token").value }),
      });
      $("sign-in-token").value = "";
      await signedIn();
    } catch (error) {
      $("sign-in-error").textContent = error.message;
    }
  });
  $("sign-out").addEventListener("click", async () => {
    try { await api("/api/session", { method: "DELETE" }); } finally { location.reload(); }
  });
  $("stop-all").addEventListener("click", async () => {
    if (!(await confirmAction("Send EMERGENCY_STOP to every online rig of the fleet?"))) return;
    try {
      const outcome = await api("/api/fleet/emergency-stop", { method: "POST", body: "{}" });
      showJson("reply", outcome);
    } catch (error) {
      showJson("reply", { error: error.message });
    }
  });
  $("emergency-dismiss").addEventListener("click", () => { $("emergency-banner").hidden = true; });
  $("command-data").addEventListener("input", checkData);
  $("command-form").addEventListener("submit", (event) => { event.preventDefault(); sendCommand(); });
  $("rigs").addEventListener("click", (event) => {
    const card = event.target.closest(".rig");
    if (card) select(card.dataset.rig);
  });
  for (const id of ["filter-rig", "filter-kind"]) $(id).addEventListener("change", redrawLog);
}

// ---------------------------------------------------------------- rigs

async function refreshRigs() {
  try {
    const fleet = await api("/api/rigs");
    state.serverSkew = fleet.now - Date.now() / 1000;
    const names = new Set();
    for (const record of fleet.rigs) {
      names.add(record.rig);
      state.rigs.set(record.rig, record);
    }
    for (const name of [...state.rigs.keys()]) if (!names.has(name)) state.rigs.delete(name);
    redrawRigs();
  } catch (error) {
    if (error.status === 401) location.reload();
  }
}

function age(seconds) {
  if (seconds === null || seconds === undefined) return "never";
  const s = Math.max(0, Date.now() / 1000 + state.serverSkew - seconds);
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

// What the last GET_STATUS says, in either generation.
function statusOf(record) {
  const data = record.lastStatus && record.lastStatus.reply && record.lastStatus.reply.data;
  if (!data || typeof data !== "object") return {};
  const catalog = catalogOf(record.rig);
  const mode = "applicationMode" in data
    ? nameOf(catalog.applicationModes, data.applicationMode)
    : "appStatus" in data ? nameOf(catalog.appStatus, data.appStatus) : "";
  const animal = data.animalId || (data.animal && (data.animal.animalId || data.animal.id || data.animal.name)) || "";
  return { mode, training: "trainingMode" in data ? nameOf(catalog.trainingModes, data.trainingMode) : "", animal };
}

function card(record) {
  const node = el("article", "rig");
  node.dataset.rig = record.rig;
  const title = el("h3");
  title.append(el("span", "name", record.rig), el("span", "state"));
  node.append(title, el("dl"));
  return node;
}

function fillCard(node, record) {
  const online = record.online === true;
  node.classList.toggle("online", online);
  node.classList.toggle("offline", !online);
  node.classList.toggle("selected", record.rig === state.selected);
  const recentEmergency = record.lastEmergency && (Date.now() / 1000 + state.serverSkew - record.lastEmergency.at) < 300;
  node.classList.toggle("emergency", Boolean(recentEmergency));
  node.querySelector(".state").textContent = online ? "online" : "offline";
  const status = statusOf(record);
  const pending = [...state.pending.values()].filter((p) => p.rig === record.rig).length;
  const rows = [
    ["heartbeat", online ? `${age(record.lastHeartbeat)} ago` : `offline for ${age(record.lastHeartbeat || record.since)}`],
    ["protocol", record.protocol || "?"],
    ["mode", status.mode || "–"],
    ["training", status.training || "–"],
    ["animal", status.animal || "–"],
    ["emergency", record.lastEmergency ? `${age(record.lastEmergency.at)} ago` : "none"],
    ["pending", String(pending)],
  ];
  const list = node.querySelector("dl");
  const fragment = document.createDocumentFragment();
  for (const [term, value] of rows) {
    const dt = el("dt", null, term);
    const dd = el("dd", null, value);
    dt.dataset.field = term;
    dd.dataset.field = term;
    fragment.append(dt, dd);
  }
  list.replaceChildren(fragment);
}

function drawRigs() {
  const grid = $("rigs");
  const cards = new Map([...grid.children].map((node) => [node.dataset.rig, node]));
  const names = [...state.rigs.keys()].sort();
  names.forEach((name, index) => {
    let node = cards.get(name);
    if (!node) node = card(state.rigs.get(name));
    cards.delete(name);
    fillCard(node, state.rigs.get(name));
    if (grid.children[index] !== node) grid.insertBefore(node, grid.children[index] || null);
  });
  for (const node of cards.values()) node.remove();
  // A big fleet gets small cards: the grid and the log stay on one screen.
  grid.classList.toggle("compact", names.length > COMPACT_FROM);
  const online = names.filter((name) => state.rigs.get(name).online).length;
  $("fleet-summary").textContent = `${online} online of ${names.length}`;
  const filter = $("filter-rig");
  const known = new Set([...filter.options].map((option) => option.value));
  for (const name of names) if (!known.has(name)) filter.append(el("option", null, name));
}

// ---------------------------------------------------------------- panel

function select(rig) {
  state.selected = rig;
  $("panel").hidden = false;
  $("panel-rig").textContent = rig;
  $("panel-protocol").textContent = `protocol ${generationOf(rig)}`;
  const commands = catalogOf(rig).commands || [];
  const choice = $("command-select");
  const before = choice.value;
  choice.replaceChildren(...commands.map((command) => {
    const option = el("option", null, command.name);
    option.value = command.name;
    return option;
  }));
  choice.value = commands.some((command) => command.name === before) ? before : "GET_STATUS";
  redrawRigs();
}

function checkData() {
  const area = $("command-data");
  try {
    JSON.parse(area.value || "null");
    area.classList.remove("invalid");
    $("command-data-error").textContent = "";
    return true;
  } catch (error) {
    area.classList.add("invalid");
    $("command-data-error").textContent = `not JSON: ${error.message}`;
    return false;
  }
}

function showJson(id, value) {
  $(id).textContent = value === undefined ? "" : JSON.stringify(value, null, 2);
}

async function sendCommand() {
  const rig = state.selected;
  const command = $("command-select").value;
  if (!rig || !checkData()) return;
  const data = JSON.parse($("command-data").value || "null");
  if (CONFIRM.test(command) && !(await confirmAction(`Send ${command} to ${rig}?`))) return;
  showJson("reply", { sending: command, rig });
  showJson("result", undefined);
  try {
    const answer = await api(`/api/rigs/${encodeURIComponent(rig)}/commands`, {
      method: "POST",
      body: JSON.stringify({ command, data }),
    });
    showJson("reply", answer.reply);
    const result = answer.reply && answer.reply.result;
    if (result === 200 || result === 201) { // PENDING, PENDING_WITH_NOTIFICATION
      state.pending.set(answer.nonce, { rig, command });
      $("result").textContent = `waiting for the result of nonce ${answer.nonce}…`;
    }
  } catch (error) {
    showJson("reply", { error: error.message, status: error.status });
  }
  redrawRigs();
}

// The page's own confirmation (window.confirm would block the page).
function confirmAction(text) {
  return new Promise((resolve) => {
    const dialog = $("confirm-dialog");
    $("confirm-text").textContent = text;
    dialog.hidden = false;
    const done = (answer) => {
      dialog.hidden = true;
      $("confirm-yes").onclick = null;
      $("confirm-no").onclick = null;
      resolve(answer);
    };
    $("confirm-yes").onclick = () => done(true);
    $("confirm-no").onclick = () => done(false);
    $("confirm-no").focus();
  });
}

// ---------------------------------------------------------------- events

function listen() {
  // Events of the last ten minutes, then live; on a reconnect the browser
  // sends Last-Event-ID and the gateway goes on after it.
  const since = new Date(Date.now() - 10 * 60 * 1000).toISOString();
  const source = new EventSource(`/api/events?since=${encodeURIComponent(since)}`);
  source.onopen = () => {
    $("stream-state").textContent = "live";
    if (state.liveSince === null) state.liveSince = Date.now();
  };
  source.onerror = () => { $("stream-state").textContent = "reconnecting…"; };
  source.onmessage = (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch (_) { return; }
    event.arrived = Date.now();
    state.total += 1;
    state.queue.push(event);
    if (state.queue.length > LOG_LINES * 4) state.queue.splice(0, state.queue.length - LOG_LINES * 4);
    scheduleDraw();
  };
}

function describe(event) {
  const body = event.body;
  switch (event.kind) {
    case "emergency":
    case "event": {
      const kind = body && typeof body === "object" ? nameOf(catalogOf(event.rig).eventKinds, body.kind) : "";
      return `${kind} ${JSON.stringify(body && body.context !== undefined ? body.context : body)}`;
    }
    case "link": return body && body.online ? "online" : "offline";
    case "result": {
      const commands = catalogOf(event.rig).commands;
      return `${nameOf(commands, body && body.command)} nonce ${body && body.nonce} → result ${body && body.result}`;
    }
    default: return JSON.stringify(body);
  }
}

function isEmergency(event) {
  if (event.kind === "emergency") return true;
  // emergencyStop (101) in both generations.
  return event.kind === "event" && event.body && event.body.kind === 101;
}

// Events drawn so far (bounded), to redraw when a filter changes.
const drawn = [];

function passes(event) {
  const rig = $("filter-rig").value;
  const kind = $("filter-kind").value;
  return (!rig || event.rig === rig) && (!kind || event.kind === kind);
}

function line(event) {
  const item = el("li", event.kind + (isEmergency(event) ? " emergency" : ""));
  const at = event.received ? new Date(event.received * 1000) : new Date(event.arrived);
  item.append(
    el("span", "time", at.toLocaleTimeString()),
    el("span", "where", `${event.rig || "?"} ${event.kind}`),
    el("span", "what", describe(event)),
  );
  item.dataset.seq = event.seq;
  return item;
}

function absorb(event) {
  if (event.kind === "result" && event.body && state.pending.has(event.body.nonce)) {
    state.pending.delete(event.body.nonce);
    state.rigsDirty = true;
    if (state.selected === event.rig) showJson("result", event.body);
  }
  if (isEmergency(event)) {
    // On the rig's card at once; the bucket's record says the same within a second.
    const record = state.rigs.get(event.rig);
    if (record && event.received) {
      record.lastEmergency = { at: event.received, event: event.body };
      state.rigsDirty = true;
    }
    const at = event.received ? new Date(event.received * 1000) : new Date();
    $("emergency-text").textContent = `${event.rig} at ${at.toLocaleTimeString()}: ${describe(event)}`;
    $("emergency-banner").hidden = false;
  }
}

function drawEvents() {
  if (state.queue.length === 0) return;
  const batch = state.queue.splice(0, state.queue.length);
  const log = $("log");
  const paused = $("filter-pause").checked;
  const fragment = document.createDocumentFragment();
  const now = Date.now();
  // Only the newest LOG_LINES of a big batch would stay: the others get no line.
  const firstDrawn = Math.max(0, batch.length - LOG_LINES);
  batch.forEach((event, index) => {
    absorb(event);
    drawn.push(event);
    // Replayed history is not latency: only events read after the stream opened.
    if (event.received && state.liveSince !== null && event.received * 1000 >= state.liveSince) {
      state.latencies.push(now - event.received * 1000);
      state.transport.push(event.arrived - event.received * 1000);
      const when = event.body && event.body.when;
      if (typeof when === "number") state.fromRig.push(now - when * 1000);
    }
    if (!paused && index >= firstDrawn && passes(event)) fragment.prepend(line(event));
  });
  if (drawn.length > LOG_LINES) drawn.splice(0, drawn.length - LOG_LINES);
  for (const list of [state.latencies, state.transport, state.fromRig]) {
    if (list.length > 10000) list.splice(0, list.length - 10000);
  }
  log.prepend(fragment);
  while (log.children.length > LOG_LINES) log.lastChild.remove();
}

function redrawLog() {
  const fragment = document.createDocumentFragment();
  for (const event of drawn) if (passes(event)) fragment.prepend(line(event));
  $("log").replaceChildren(fragment);
}

// ---------------------------------------------------------------- drawing

let frameAsked = false;

function redrawRigs() {
  state.rigsDirty = true;
  scheduleDraw();
}

function scheduleDraw() {
  if (frameAsked) return;
  frameAsked = true;
  requestAnimationFrame(() => {
    frameAsked = false;
    drawEvents();
    if (state.rigsDirty) {
      state.rigsDirty = false;
      drawRigs();
    }
  });
}

start();
