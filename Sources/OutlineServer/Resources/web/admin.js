// The operators' board: what runs, what fails, the streaming flag, health.
"use strict";
const $ = (id) => document.getElementById(id);
let token = null;

function readToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) { localStorage.setItem("outline:admin-token", hash.get("token")); history.replaceState(null, "", location.pathname); }
  return localStorage.getItem("outline:admin-token");
}

async function api(method, path, body) {
  const options = { method, headers: { Authorization: "Bearer " + token, Accept: "application/json" } };
  if (body !== undefined) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
  const response = await fetch(path, options);
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    if (response.status === 401 || response.status === 403) { localStorage.removeItem("outline:admin-token"); $("signin").hidden = false; }
    throw new Error((json && json.error && json.error.message) || ("HTTP " + response.status));
  }
  return json;
}

function cells(row, values) { for (const value of values) { const td = document.createElement("td"); td.textContent = value ?? "–"; row.append(td); } return row; }
const ago = (seconds) => seconds == null ? "–" : seconds < 60 ? seconds.toFixed(1) + " s" : (seconds / 60).toFixed(1) + " min";
const percent = (value) => (value * 100).toFixed(1) + " %";

function render(data) {
  $("error").hidden = true;
  $("board").hidden = false;
  $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
  if (document.activeElement?.closest("#flags-form") == null) {
    $("use-streaming").checked = data.flags.useStreaming;
    $("rollout").value = data.flags.rolloutPercent;
  }
  const history = $("flag-history").tBodies[0];
  history.replaceChildren(...data.flagHistory.map((c) => cells(document.createElement("tr"), [new Date(c.changedAt).toLocaleString(), c.name, c.oldValue, c.newValue, c.changedBy, c.reason])));
  const active = $("active").tBodies[0];
  $("active-count").textContent = "(" + data.activeSessions.length + ")";
  active.replaceChildren(...data.activeSessions.map((s) => {
    const row = cells(document.createElement("tr"), [s.sessionId.slice(0, 8), s.workflowOwner + "/" + s.workflowId, s.phase, s.mode, s.leaseOwner, ago(s.leaseAgeSeconds), s.events, bytes(s), s.resumes ?? "—", s.lastProviderSequence, ago(s.secondsSinceLastEvent)]);
    row.className = "clickable"; row.tabIndex = 0; row.dataset.session = s.sessionId;
    row.addEventListener("click", () => timeline(s.sessionId));
    row.addEventListener("keydown", (event) => { if (event.key === "Enter") timeline(s.sessionId); });
    return row;
  }));
  $("health").replaceChildren(...[["Migrations", data.health.healthy ? "all applied" : data.health.problems.join("; ")], ["Projection lag", data.projectionLag + " sessions behind"],
    ...data.projections.map((p) => ["Read model " + p.name, "v" + p.version + ", " + p.lag + " events behind"]), ["Log head", data.logPosition]]
    .flatMap(([k, v]) => { const d = document.createElement("div"); const dt = document.createElement("dt"); dt.textContent = k; const dd = document.createElement("dd"); dd.textContent = v; d.append(dt, dd); return [d]; }));
  if (data.usage) {
    $("limits").tBodies[0].replaceChildren(...data.usage.limits.map((l) => cells(document.createElement("tr"), [l.name.replaceAll("_", " "), l.maximum, l.highestUse])));
    $("usage").tBodies[0].replaceChildren(...data.usage.users.map((u) => cells(document.createElement("tr"),
      [u.user, u.activeSessions, u.startsLastHour, u.startsLastDay, u.newWorkflowsLastHour, u.openStreams])));
  }
  if (data.spending) {
    const sp = data.spending, usd = (v) => v == null ? "no budget" : "$" + v.toFixed(2);
    $("spending-summary").textContent = usd(sp.spentUsd) + " spent this " + sp.period + " (resets " + new Date(sp.resetsAt).toLocaleString() + "). Budgets: "
      + usd(sp.userBudgetUsd) + " per user, " + usd(sp.workflowBudgetUsd) + " per workflow; running sessions stop at " + sp.hardCapPercent + "% of a budget. "
      + "Last 24 h: " + sp.lastDay.sessions + " sessions, median " + usd(sp.lastDay.medianUsd) + ", p95 " + usd(sp.lastDay.p95Usd) + ", max " + usd(sp.lastDay.maxUsd)
      + (sp.lastDay.estimated ? " (" + sp.lastDay.estimated + " estimated)" : "") + ".";
    $("spend-users").tBodies[0].replaceChildren(...sp.users.map((u) => cells(document.createElement("tr"), [u.user, usd(u.spentUsd), usd(u.remainingUsd), u.sessions, u.activeSessions])));
    $("spend-workflows").tBodies[0].replaceChildren(...sp.workflows.map((w) => cells(document.createElement("tr"), [w.owner + "/" + w.workflowId, usd(w.spentUsd), usd(w.remainingUsd), w.sessions])));
  }
  charts(data.history);
  $("modes").tBodies[0].replaceChildren(...data.modes.map((m) => cells(document.createElement("tr"), [m.mode, m.sessions, m.failed, percent(m.errorRate)])));
  if (data.triggers) {
    const shown = (t) => t.unit === "seconds" ? (t.value < 1 ? (t.value * 1000).toFixed(1) + " ms" : t.value.toFixed(1) + " s") : String(t.value);
    const limit = (t) => t.unit === "seconds" ? (t.threshold < 1 ? (t.threshold * 1000) + " ms" : t.threshold + " s") : t.threshold + " " + t.unit;
    $("triggers").tBodies[0].replaceChildren(...data.triggers.map((t) => {
      const row = cells(document.createElement("tr"), [t.signal.replaceAll("_", " "), shown(t), limit(t), t.samples]);
      if (t.breached) row.className = "alert";
      return row;
    }));
  }
  const rb = data.rollback, v = rb && rb.verdict;
  const last = rb && rb.lastAutomatic ? " Last automatic rollback: " + new Date(rb.lastAutomatic.changedAt).toLocaleString() + " (" + rb.lastAutomatic.reason + ")." : "";
  $("rollback").textContent = !v ? "" : (data.rollbackAdvised
    ? "Streaming fails " + v.gapPoints.toFixed(1) + " points above polling (threshold " + v.thresholdPoints + "): " + (rb.enabled ? "the automatic rollback turns it off." : "the automatic rollback is disabled; consider turning streaming off.")
    : "Streaming " + percent(v.streamingRate) + " of " + v.streamingSessions + " sessions failed, polling " + percent(v.pollingRate) + " (" + v.pollingBaseline + "), in the last "
      + v.windowMinutes + " min: " + (v.judged ? "within " + v.thresholdPoints + " points." : "fewer than " + v.minimumSessions + " streaming sessions, not judged yet.")
      + (rb.enabled ? "" : " The automatic rollback is disabled.")) + last;
  $("rollback").className = data.rollbackAdvised ? "alert small" : "muted small";
  $("provider-errors").replaceChildren(...data.providerErrors.map((e) => { const li = document.createElement("li"); li.textContent = e.code + ": " + e.count + " (" + percent(e.rate) + " of sessions)"; return li; }));
  $("failures").tBodies[0].replaceChildren(...data.recentFailures.map((f) => {
    const row = cells(document.createElement("tr"), [new Date(f.at).toLocaleString(), f.sessionId.slice(0, 8), f.workflowOwner + "/" + f.workflowId, f.error]);
    row.className = "clickable"; row.tabIndex = 0; row.addEventListener("click", () => timeline(f.sessionId));
    return row;
  }));
}

/** The last day as charts: latencies hour by hour (p50 and p95), failure rates by mode. */
function charts(history) {
  if (!history) return;
  const latencyChart = (id, note, hours, what) => {
    const points = (key) => hours.map((h) => ({ start: Date.parse(h.start), value: h[key] }));
    const drawn = Charts.hourly($(id), { label: what + ", p50 and p95 per hour, last 24 hours", format: Charts.latency,
                                         series: [{ name: "p50", className: "p50", points: points("p50") }, { name: "p95", className: "p95", points: points("p95") }] });
    const latest = hours[hours.length - 1];
    $(note).textContent = drawn === 0 ? "" : "This hour: p50 " + Charts.latency(latest.p50) + ", p95 " + Charts.latency(latest.p95) + " over " + latest.count + " samples; "
      + hours.reduce((n, h) => n + h.count, 0) + " samples in the day.";
  };
  latencyChart("chart-first-content", "note-first-content", history.timeToFirstContent, "Time to first content");
  latencyChart("chart-delivery", "note-delivery", history.delivery, "Delivery latency");
  const modes = [...new Set(history.sessions.map((h) => h.mode))].sort();
  const drawn = Charts.hourly($("chart-failures"), { label: "Share of sessions that failed per hour, by mode, last 24 hours", bars: true,
    format: (v) => (v * 100).toFixed(v < 0.1 && v > 0 ? 1 : 0) + " %",
    series: modes.map((mode) => ({ name: mode, className: mode, points: history.sessions.filter((h) => h.mode === mode).map((h) => ({ start: Date.parse(h.start), value: h.failureRate })) })) });
  const started = history.sessions.reduce((n, h) => n + h.sessions, 0), failed = history.sessions.reduce((n, h) => n + h.failed, 0);
  $("note-failures").textContent = drawn === 0 ? "" : failed + " of " + started + " sessions started in the day failed.";
}

/** JSON bytes, and what the log stores after LZ4 when the read model's version has it (v2). */
function bytes(s) {
  return s.storedBytes == null ? String(s.bytes) : s.bytes + " (" + s.storedBytes + " stored)";
}

async function timeline(session) {
  const page = await api("GET", "/api/sessions/" + session + "/events?limit=2000");
  $("timeline-card").hidden = false;
  $("timeline-session").textContent = session;
  const first = page.events.length ? Date.parse(page.events[0].recordedAt) : 0;
  $("timeline").tBodies[0].replaceChildren(...page.events.map((e) => cells(document.createElement("tr"), [e.sequence, Date.parse(e.recordedAt) - first, e.type, JSON.stringify(e.payload).slice(0, 160)])));
}

async function refresh() {
  try { render(await api("GET", "/admin/outline-generation-diagnostics")); }
  catch (error) { $("error").textContent = "Cannot load the diagnostics: " + error.message; $("error").hidden = false; }
}

$("flags-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("PUT", "/admin/flags", { useStreaming: $("use-streaming").checked, rolloutPercent: Number($("rollout").value), reason: $("reason").value.trim() || undefined });
    $("reason").value = "";
    $("save-flags").blur();
    await refresh();
  } catch (error) { $("error").textContent = "The flag was not changed: " + error.message; $("error").hidden = false; }
});
$("signin-form").addEventListener("submit", (event) => { event.preventDefault(); localStorage.setItem("outline:admin-token", $("token-input").value.trim()); boot(); });

function boot() {
  token = readToken();
  if (!token) { $("signin").hidden = false; return; }
  $("signin").hidden = true;
  refresh();
  setInterval(refresh, 3000);
}
boot();
