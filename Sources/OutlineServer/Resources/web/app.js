// OutlineStream's generation page: start a session, answer the questions, and
// watch the outline being written over Server-Sent Events. A reload resumes
// from the server's snapshot; a dropped connection resumes by Last-Event-ID
// (EventSource does that itself). With streaming off, it starts V2 and polls.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { generation: 0, token: null, user: null, workflow: null, session: null, source: null, poll: null, timer: null,
                startedAt: null, lastId: 0, text: "", searches: new Map(), citations: [], done: false,
                reconnects: [], durations: null, timeline: null, timelineSession: null };

// ---------- tokens and API calls ----------
function readToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    localStorage.setItem("outline:token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem("outline:token");
}

function claims(token) {
  try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch { return null; }
}

const messages = {
  session_active: "This workflow already has an outline in progress; it is shown below.",
  streaming_disabled: "Live updates are turned off right now; the outline will refresh every few seconds instead.",
  unauthorized: "Your sign-in has expired or is not valid. Paste a new token to continue.",
  workflow_not_found: "That workflow does not exist or belongs to someone else.",
  not_awaiting_clarification: "The answers were already sent; the research is under way.",
  session_ended: "This outline has already finished.",
  missing_field: "Something is missing from the form: fill it in and try again.",
  invalid_field: "Something in the form is not valid: check it and try again.",
  body_too_large: "The prompt is too long: shorten it and try again.",
  invalid_workflow_id: "Workflow names use letters, digits, '-', '_', '.' or ':' only.",
  workflow_exists: "That workflow name is taken: choose another.",
  internal_error: "Something went wrong on our side. Try again in a moment; your outlines are safe.",
};

// Why a session stopped, in a writer's words, with what to do.
const failureWords = {
  provider_error: "The research service reported a problem with this request.",
  provider_unreachable: "The research service could not be reached.",
  stuck_queued: "The research service was too busy and never started this outline.",
  charge_unknown: "The research was interrupted at a moment where we cannot tell whether it had started.",
  preparation_failed: "The questions or the research brief could not be prepared.",
};
// "Nothing was charged twice" only when the server knows it (providerSettled):
// not after a create whose answer was lost (charge_unknown, provider_unreachable).
function failureText(code, message, retryable, providerSettled) {
  const what = failureWords[code] || ("The research stopped: " + (message || "an unknown error") + ".");
  if (retryable === false) return what + " Please contact support with the time it happened.";
  return what + (providerSettled === true ? " Start it again; nothing was charged twice." : " You can start it again.");
}

async function api(method, path, body) {
  const options = { method, headers: { Authorization: "Bearer " + state.token } };
  if (body !== undefined) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
  let response;
  try { response = await fetch(path, options); } catch { throw new UserError("The server cannot be reached. Check your connection; nothing is lost, try again in a moment."); }
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  if (!response.ok) {
    const error = (json && json.error) || {};
    if (response.status === 401) { signOut(); }
    throw new UserError(messages[error.code] || error.message || ("The server answered " + response.status + "."), error, response.status);
  }
  return json;
}

class UserError extends Error {
  constructor(message, detail, status) { super(message); this.detail = detail || {}; this.status = status; }
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? (error.message || String(error)) : "";
  box.hidden = !error;
  if (error) $("session").hidden = false;
}

function signOut() {
  localStorage.removeItem("outline:token");
  state.token = null;
  $("workspace").hidden = true;
  $("signin").hidden = false;
}

// ---------- workflows ----------
async function loadWorkflows(select) {
  const { workflows } = await api("GET", "/api/workflows");
  const list = $("workflow-select");
  list.replaceChildren();
  if (!workflows.length) list.append(new Option("(none yet — name one on the right)", ""));
  for (const workflow of workflows) list.append(new Option(workflow.title || workflow.workflowId, workflow.workflowId));
  const wanted = select || localStorage.getItem("outline:workflow");
  if (wanted && workflows.some((w) => w.workflowId === wanted)) list.value = wanted;
  if (list.value) await showLatest(list.value);
}

async function chosenWorkflow() {
  const fresh = $("workflow-new").value.trim();
  if (fresh) {
    try { await api("POST", "/api/workflows", { workflowId: fresh }); }
    catch (error) { if (!error.detail || error.detail.code !== "workflow_exists") throw error; }
    $("workflow-new").value = "";
    await loadWorkflows(fresh);
    return fresh;
  }
  if (!$("workflow-select").value) throw new UserError("Choose a workflow or name a new one.");
  return $("workflow-select").value;
}

const base = (workflow) => "/api/workflows/" + encodeURIComponent(workflow) + "/outline-generation";

// ---------- starting ----------
async function start(event) {
  event.preventDefault();
  showError(null);
  const button = $("start-button");
  button.disabled = true;
  try {
    const workflow = await chosenWorkflow();
    const prompt = $("prompt").value.trim();
    const flags = await api("GET", "/api/flags?workflowId=" + encodeURIComponent(workflow));
    const streaming = flags.streaming !== false;
    const body = { prompt, skipClarification: $("skip-clarification").checked };
    let started;
    try {
      started = await api("POST", base(workflow) + (streaming ? "/start" : "/start-v2"), body);
    } catch (error) {
      if (error.detail.code === "session_active") { await follow(workflow, error.detail.activeSessionId); showError(error); return; }
      if (error.detail.code === "streaming_disabled") { started = await api("POST", base(workflow) + "/start-v2", body); }
      else throw error;
    }
    await follow(workflow, started.sessionId, started.mode);
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function showLatest(workflow) {
  localStorage.setItem("outline:workflow", workflow);
  const generation = state.generation;
  try {
    const row = await api("GET", base(workflow) + "/latest");
    if (generation !== state.generation) return; // something newer is shown meanwhile
    await follow(workflow, row.id, row.mode);
  } catch (error) {
    if (generation !== state.generation) return;
    if (error.detail.code !== "no_session") showError(error);
    else { stopWatching(); reset(); delete $("session").dataset.session; $("session").hidden = true; }
  }
}

// ---------- following a session ----------
function reset(keepTimeline = false) {
  Object.assign(state, { lastId: 0, text: "", searches: new Map(), citations: [], done: false, replaying: false, startedAt: null,
                         cost: null, costEstimated: false });
  if (!keepTimeline) {
    Object.assign(state, { reconnects: [], timeline: null, timelineSession: null });
    $("timeline-figure").hidden = true;
    $("timeline-chart").replaceChildren();
  }
  $("eta").textContent = "–";
  showCost();
  $("outline-text").textContent = "";
  $("outline-text").hidden = false;
  // A new session must not show the previous one's "Done" until its first event.
  $("phase").textContent = "";
  delete $("phase").dataset.phase;
  $("final").hidden = true;
  $("final").replaceChildren();
  $("reasoning").textContent = "";
  $("searches").replaceChildren();
  $("citations").replaceChildren();
  $("questions").replaceChildren();
  $("clarify-form").hidden = true;
  $("replay-form").hidden = true;
  $("error").hidden = true;
}

function stopWatching() {
  if (state.source) state.source.close();
  if (state.poll) clearTimeout(state.poll);
  state.source = null;
  state.poll = null;
}

async function follow(workflow, sessionId, mode) {
  // Only the newest follow may touch the page: a slower, older one (the latest
  // session shown at load) must not replace the session just started.
  const generation = ++state.generation;
  stopWatching();
  reset();
  state.workflow = workflow;
  state.session = sessionId;
  $("workspace").classList.add("following");
  $("session").dataset.session = sessionId;
  $("session").hidden = false;
  $("cancel-button").hidden = false;
  showSpending();
  if (!mode) mode = (await api("GET", base(workflow) + "/status?sessionId=" + sessionId)).mode;
  if (generation !== state.generation) return;
  state.mode = mode;
  loadDurations(mode);
  if (mode === "polling") { $("mode-note").textContent = "Live updates are off for this workflow: the page refreshes every few seconds."; poll(); return; }
  $("mode-note").textContent = "";
  await listen(undefined, generation);
}

async function listen(afterId, generation = state.generation) {
  const { streamUrl } = await api("GET", base(state.workflow) + "/stream-token?sessionId=" + state.session);
  if (generation !== state.generation) return;
  // A fresh page asks for the snapshot; a replacement connection continues after the last event seen.
  const url = afterId ? streamUrl + "&lastEventId=" + afterId : streamUrl;
  attach(new EventSource(url));
}

// Feeds a stream's events to the page; the live stream and a playback share the format.
function attach(source) {
  state.source = source;
  const on = (type, handler) => source.addEventListener(type, (message) => {
    const id = Number(message.lastEventId);
    if (type !== "snapshot" && id && id <= state.lastId) return;
    if (state.replaying && state.timeline && id) state.timeline.moveTo(id);
    handler(JSON.parse(message.data));
    if (id) state.lastId = id;
  });
  on("snapshot", applyRow);
  on("session.started", (e) => { state.startedAt = state.startedAt || Date.now(); setPhase("starting"); });
  on("clarification.requested", (e) => { addCost(e.cost); showQuestions(e.questions); });
  on("clarification.answered", () => { $("clarify-form").hidden = true; setPhase("preparing"); });
  on("research.instructions_written", (e) => { addCost(e.cost); setPhase("preparing"); });
  on("provider.request_started", () => setPhase("researching"));
  on("provider.response_accepted", () => setPhase("researching"));
  on("provider.status_changed", () => {});
  on("session.resumed", () => {});
  on("session.polled", () => {});
  on("reasoning.summary_delta", (e) => { $("reasoning").textContent += e.delta; });
  on("web_search.step", (e) => addSearch(e.itemId, e.step, e.query));
  on("output_text.delta", (e) => { setPhase("writing"); appendText(e.delta); });
  on("citation.added", (e) => addCitation(e.citation));
  on("session.completed", (e) => { addCost(e.cost); finish("done"); renderFinal(e.finalOutline, e.citations); });
  on("session.failed", (e) => { addCost(e.cost); finish("failed"); showError(new UserError(failureText(e.code, e.message, e.retryable, e.providerSettled))); });
  on("session.cancelled", (e) => { addCost(e.cost); finish("cancelled", e.cancelledBy); if (e.cancelledBy === "budget" && e.reason) showError(new UserError(e.reason)); });
  source.onerror = () => {
    if (state.done) { source.close(); return; }
    // A live connection that dropped: EventSource reconnects (or we do, below). The
    // timeline marks it; a playback's end is no reconnect.
    if (!state.replaying && state.source === source) state.reconnects.push(Date.now());
    // EventSource retries by itself with Last-Event-ID; when it gave up (an expired
    // stream token answers 401), get a new token and continue after the last event.
    if (source.readyState === EventSource.CLOSED && !state.replaying) {
      setTimeout(() => { if (!state.done && state.source === source) listen(state.lastId).catch(showError); }, 1000);
    }
  };
}

// Plays a finished session back from its log, through the same handlers as a live stream.
async function replay(event) {
  event.preventDefault();
  const generation = ++state.generation;
  try {
    const { streamUrl } = await api("GET", base(state.workflow) + "/stream-token?sessionId=" + state.session);
    if (generation !== state.generation) return;
    const token = new URL(streamUrl, location.href).searchParams.get("token");
    const speed = $("replay-speed").value;
    stopWatching();
    reset(true);
    state.replaying = true;
    $("replay-form").hidden = true;
    $("mode-note").textContent = speed === "0" ? "Playing the recorded session back." : "Playing the recorded session back (" + (speed === "1" ? "as it happened" : speed + "× faster") + ").";
    attach(new EventSource("/api/sessions/" + state.session + "/replay?speed=" + speed + "&token=" + encodeURIComponent(token)));
  } catch (error) { showError(error); }
}

function applyRow(row) {
  if (state.done) return; // the end is already on screen, with who or why
  state.lastId = row.lastEventSequence;
  state.startedAt = Date.parse(row.startedAt);
  state.text = row.outputText || "";
  $("outline-text").textContent = state.text;
  $("reasoning").textContent = row.reasoningSummary || "";
  $("searches").replaceChildren();
  state.searches = new Map();
  (row.webSearchQueries || []).forEach((query, index) => addSearch("q" + index, "described", query));
  $("searches-done").textContent = row.webSearchesDone;
  state.cost = row.cost ? row.costMicrodollars : null;
  state.costEstimated = Boolean(row.cost && row.cost.estimated);
  showCost();
  $("citations").replaceChildren();
  state.citations = [];
  (row.citations || []).forEach(addCitation);
  if (row.status === "awaiting_clarification") showQuestions(row.clarificationQuestions || []);
  setPhase(row.progressPhase);
  if (row.status === "completed") { finish("done"); renderFinal(row.finalOutline || state.text, row.citations || []); }
  else if (row.status === "failed") { finish("failed"); showError(new UserError(failureText(null, row.errorMessage, true))); }
  else if (row.status === "cancelled") finish("cancelled");
}

function poll() {
  api("GET", base(state.workflow) + "/status?sessionId=" + state.session).then((row) => {
    applyRow(row);
    if (!state.done) state.poll = setTimeout(poll, 2000);
  }).catch((error) => { showError(error); state.poll = setTimeout(poll, 5000); });
}

const phaseWords = { starting: "Starting…", clarifying: "Waiting for your answers", preparing: "Preparing the research brief…",
                     researching: "Researching the web…", writing: "Writing the outline…", done: "Done", failed: "Stopped", cancelled: "Cancelled" };
function setPhase(phase) {
  if (state.done && !["done", "failed", "cancelled"].includes(phase)) return;
  $("phase").textContent = phaseWords[phase] || phase;
  $("phase").dataset.phase = phase;
  showStep(phase);
  if (!state.timer) state.timer = setInterval(tick, 1000);
  tick();
}

// The progress indicator: which of clarifying, researching, writing, done the session is at.
const stepOf = { starting: 0, clarifying: 0, preparing: 1, researching: 1, writing: 2, done: 3, failed: 3, cancelled: 3 };
function showStep(phase) {
  const current = stepOf[phase] ?? 0;
  document.querySelectorAll("#steps li").forEach((li, index) => {
    li.classList.toggle("passed", index < current);
    if (index === current) li.setAttribute("aria-current", "step"); else li.removeAttribute("aria-current");
  });
  const last = document.querySelector('#steps li[data-step="done"]');
  last.textContent = phase === "failed" ? "Stopped" : phase === "cancelled" ? "Cancelled" : "Done";
  const searching = document.querySelector('#steps li[data-step="researching"]');
  const searches = Number($("searches-done").textContent) || 0;
  searching.textContent = searches > 0 ? "Researching (" + searches + " searches)" : "Researching";
}

function tick() {
  if (!state.startedAt) return;
  const seconds = Math.max(0, Math.round((Date.now() - state.startedAt) / 1000));
  $("elapsed").textContent = Math.floor(seconds / 60) + " min " + String(seconds % 60).padStart(2, "0") + " s";
  showEstimate(seconds);
}

function appendText(delta) {
  state.text += delta;
  $("outline-text").append(delta);
}

function addSearch(itemId, step, query) {
  let item = state.searches.get(itemId);
  if (!item) { item = document.createElement("li"); item.textContent = "searching…"; state.searches.set(itemId, item); $("searches").append(item); }
  if (query) item.textContent = query;
  if (step === "completed" || step === "described") {
    $("searches-done").textContent = [...state.searches.values()].length;
    if ($("phase").dataset.phase) showStep($("phase").dataset.phase);
  }
}

// Only http: and https: URLs become links: a citation is provider content, and
// a javascript: or data: URL on this origin could read the token in localStorage.
function safeLink(url) {
  if (typeof url !== "string" || url.length > 4096) return null;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
  } catch (_) {
    return null;
  }
}

function addCitation(citation) {
  if (!citation || state.citations.some((c) => c.url === citation.url && c.startIndex === citation.startIndex)) return;
  state.citations.push(citation);
  const item = document.createElement("li");
  const href = safeLink(citation.url);
  const label = String(citation.title || citation.url || "").slice(0, 500);
  if (href) {
    const link = document.createElement("a");
    link.href = href;
    link.textContent = label;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    item.append(link);
  } else {
    item.textContent = label + " (link removed: not an http or https address)";
  }
  $("citations").append(item);
}

function showQuestions(questions) {
  setPhase("clarifying");
  const box = $("questions");
  box.replaceChildren();
  questions.forEach((question, index) => {
    const label = document.createElement("label");
    label.htmlFor = "answer-" + index;
    label.textContent = question;
    const input = document.createElement("input");
    input.id = "answer-" + index;
    box.append(label, input);
  });
  $("clarify-form").hidden = false;
}

async function sendAnswers(event) {
  event.preventDefault();
  const answers = [...$("questions").querySelectorAll("input")].map((input) => input.value.trim());
  try {
    await api("POST", base(state.workflow) + "/clarifications", { sessionId: state.session, answers });
    $("clarify-form").hidden = true;
    setPhase("preparing");
  } catch (error) { showError(error); }
}

// What the session cost: the priced provider calls its events carry (micro-dollars).
function addCost(cost) {
  if (!cost || typeof cost.microdollars !== "number") return;
  state.cost = (state.cost || 0) + cost.microdollars;
  state.costEstimated = state.costEstimated || Boolean(cost.estimated);
  showCost();
}

function showCost() {
  $("cost").textContent = state.cost == null ? "–" : (state.costEstimated ? "≈ " : "") + "$" + (state.cost / 1e6).toFixed(2);
  $("cost").title = state.costEstimated ? "Estimated from what the log shows: the provider reported no usage for part of it." : "";
}

// What the writer spent this budget period, and on this workflow, against the budgets.
function showSpending() {
  const workflow = state.workflow;
  api("GET", "/api/spending?workflowId=" + encodeURIComponent(workflow)).then((s) => {
    if (workflow !== state.workflow) return;
    const part = (label, scope) => label + " $" + scope.spentUsd.toFixed(2) + (scope.budgetUsd == null ? "" : " of $" + scope.budgetUsd.toFixed(2));
    $("spending").textContent = part("Your research this " + s.period + ":", s.user) + (s.workflow ? " · " + part("this workflow:", s.workflow) : "")
      + " (resets " + new Date(s.resetsAt).toLocaleString() + ")";
  }).catch(() => { $("spending").textContent = ""; });
}

function finish(phase, by) {
  state.done = true;
  showSpending();
  state.replaying = false;
  $("replay-form").hidden = false;
  setPhase(phase);
  if (by) $("phase").textContent = "Cancelled by " + by;
  $("cancel-button").hidden = true;
  clearInterval(state.timer);
  state.timer = null;
  $("eta").textContent = "–";
  stopWatching();
  showTimeline();
}

// The finished session's timeline, from its log (once per session; a playback moves its playhead).
async function showTimeline() {
  const session = state.session;
  if (!session || state.timelineSession === session) return;
  state.timelineSession = session;
  try {
    const events = await Timeline.load(api, session);
    if (session !== state.session) return;
    const model = Timeline.model(events, state.reconnects);
    $("timeline-caption").textContent = Timeline.summary(model);
    $("timeline-figure").hidden = false;   // shown first: the chart is drawn at the width it gets
    state.timeline = Timeline.draw($("timeline-chart"), model);
    $("timeline-figure").dataset.session = session;
  } catch (error) {
    state.timelineSession = null;
    $("timeline-caption").textContent = "The timeline could not be loaded: " + (error.message || error);
    $("timeline-figure").hidden = false;
  }
}

// How long sessions take, for the estimate of the time left (every 5 minutes at most).
function loadDurations(mode) {
  const fresh = state.durations && state.durations.mode === mode && Date.now() - state.durations.loadedAt < 300000;
  if (fresh) { tick(); return; }
  api("GET", "/api/session-durations?mode=" + encodeURIComponent(mode || "streaming")).then((d) => {
    state.durations = Object.assign(d, { loadedAt: Date.now() });
    tick();
  }).catch(() => { state.durations = null; });
}

// "about 12 min", "under a minute", or, past the usual, how long sessions usually take.
function showEstimate(elapsedSeconds) {
  const eta = $("eta"), d = state.durations;
  if (state.done || !d) { eta.textContent = "–"; return; }
  if (d.medianSeconds == null) { eta.textContent = "no estimate yet"; delete eta.dataset.leftSeconds; return; }
  const left = d.medianSeconds - elapsedSeconds;
  eta.dataset.medianSeconds = String(d.medianSeconds);
  eta.dataset.leftSeconds = String(Math.max(0, Math.round(left)));
  eta.title = "Half of the last " + d.completedSessions + " completed sessions took under " + Charts.clock(d.medianSeconds)
    + ", nine in ten under " + Charts.clock(d.p90Seconds) + ".";
  if (left <= 0) eta.textContent = "longer than usual (typically " + Charts.clock(d.medianSeconds) + ")";
  else if (left < 60) eta.textContent = "under a minute";
  else eta.textContent = "about " + Math.round(left / 60) + " min";
}

// The final outline, readable: headings, bullets and links from its Markdown, all text escaped.
function renderFinal(markdown, citations) {
  const final = $("final");
  final.replaceChildren();
  let list = null;
  for (const line of (markdown || "").split("\n")) {
    const heading = line.match(/^(#{1,4})\s+(.*)$/);
    const bullet = line.match(/^\s*[-*]\s+(.*)$/);
    if (heading) { list = null; const h = document.createElement(heading[1].length <= 2 ? "h3" : "h4"); inline(h, heading[2]); final.append(h); }
    else if (bullet) { if (!list) { list = document.createElement("ul"); final.append(list); } const li = document.createElement("li"); inline(li, bullet[1]); list.append(li); }
    else if (line.trim()) { list = null; const p = document.createElement("p"); inline(p, line); final.append(p); }
  }
  final.hidden = false;
  $("outline-text").hidden = true;
  (citations || []).forEach(addCitation);
}

function inline(element, text) {
  const pattern = /\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)/g;
  let last = 0, match;
  while ((match = pattern.exec(text))) {
    element.append(text.slice(last, match.index));
    const href = safeLink(match[2]);
    if (href) {
      const link = document.createElement("a");
      link.href = href;
      link.textContent = match[1];
      link.rel = "noopener noreferrer";
      element.append(link);
    } else {
      element.append(match[0]);
    }
    last = pattern.lastIndex;
  }
  element.append(text.slice(last));
}

async function cancel() {
  try {
    await api("POST", base(state.workflow) + "/cancel", { sessionId: state.session });
    if (state.mode === "polling" && !state.done) poll(); // the stream reports the end itself
  }
  catch (error) { showError(error); }
}

// ---------- start-up ----------
async function boot() {
  state.token = readToken();
  if (!state.token) { $("signin").hidden = false; return; }
  const claim = claims(state.token);
  $("who").textContent = claim ? "Signed in as " + claim.sub : "";
  $("signin").hidden = true;
  $("workspace").hidden = false;
  try { await loadWorkflows(); } catch (error) { showError(error); }
}

$("signin-form").addEventListener("submit", (event) => { event.preventDefault(); localStorage.setItem("outline:token", $("token-input").value.trim()); boot(); });
$("start-form").addEventListener("submit", start);
$("clarify-form").addEventListener("submit", sendAnswers);
$("cancel-button").addEventListener("click", cancel);
$("replay-form").addEventListener("submit", replay);
$("workflow-select").addEventListener("change", (event) => { if (event.target.value) showLatest(event.target.value); });
boot();
