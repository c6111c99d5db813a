// A finished session at a glance: its phases, searches, reasoning and the rate
// the outline was written at over time, with the provider stream's resumes and
// this page's own reconnects marked. Read from the session's log (the analysts'
// events feed), drawn with Charts; a playback moves a playhead along it.
"use strict";

const Timeline = (() => {
  const phaseNames = { clarifying: "clarifying", preparing: "preparing", researching: "researching", writing: "writing" };
  const terminal = new Set(["session.completed", "session.failed", "session.cancelled"]);

  /** Every event of the session, page by page (at most `limit`). */
  async function load(api, session, limit = 200000) {
    const events = [];
    let after = 0;
    while (events.length < limit) {
      const page = await api("GET", "/api/sessions/" + session + "/events?limit=5000&after=" + after);
      events.push(...page.events);
      if (page.nextAfter == null) break;
      after = page.nextAfter;
    }
    return events;
  }

  /** What the chart shows, from the events: pure, so it can be checked apart from drawing. */
  function model(events, reconnects = []) {
    const times = events.map((e) => Date.parse(e.recordedAt));
    const start = times.length ? times[0] : 0;
    const end = times.length ? times[times.length - 1] : 0;
    const phases = [];
    let phase = "preparing", since = start;
    const enter = (next, at) => {
      if (next === phase) return;
      if (at > since || phases.length === 0) phases.push({ phase, from: since, to: at });
      phase = next; since = at;
    };
    const searches = new Map(), reasoning = [], text = [], resumes = [], polls = [];
    let ended = null;
    events.forEach((e, index) => {
      const at = times[index], p = e.payload || {};
      switch (e.type) {
        case "clarification.requested": enter("clarifying", at); break;
        case "clarification.answered": enter("preparing", at); break;
        case "provider.request_started": case "provider.response_accepted": if (phase !== "writing") enter("researching", at); break;
        case "output_text.delta": enter("writing", at); text.push({ at, chars: [...(p.delta || "")].length }); break;
        case "reasoning.summary_delta": reasoning.push({ at, chars: [...(p.delta || "")].length }); break;
        case "web_search.step": if (p.step === "completed" && !searches.has(p.itemId)) searches.set(p.itemId, at); break;
        case "session.resumed": resumes.push(at); break;
        case "session.polled": polls.push(at); break;
        default: if (terminal.has(e.type)) ended = { type: e.type, at };
      }
    });
    if (times.length) phases.push({ phase, from: since, to: ended ? ended.at : end });
    const duration = Math.max(end - start, 1);
    // Characters per second in 60 equal slices of the session.
    const slices = 60, width = duration / slices;
    const rate = Array.from({ length: slices }, (_, i) => ({ from: start + i * width, chars: 0, reasoning: 0 }));
    const slot = (at) => Math.min(slices - 1, Math.max(0, Math.floor((at - start) / width)));
    for (const t of text) rate[slot(t.at)].chars += t.chars;
    for (const r of reasoning) rate[slot(r.at)].reasoning += r.chars;
    const perSecond = (chars) => chars / Math.max(width / 1000, 0.001);
    return {
      start, end, duration, phases: phases.filter((p) => p.to > p.from || phases.length === 1),
      searches: [...searches.values()], reasoning, resumes, polls, ended,
      reconnects: reconnects.filter((at) => at >= start && at <= end),
      rate: rate.map((r) => ({ from: r.from, perSecond: perSecond(r.chars), reasoningPerSecond: perSecond(r.reasoning) })),
      sequences: events.map((e, index) => [e.sequence, times[index]]),
    };
  }

  function summary(m) {
    const length = (p) => Charts.clock((p.to - p.from) / 1000);
    const parts = m.phases.map((p) => `${phaseNames[p.phase] || p.phase} ${length(p)}` + (p.phase === "researching" && m.searches.length ? ` (${m.searches.length} searches)` : ""));
    const peak = Math.max(0, ...m.rate.map((r) => r.perSecond));
    if (peak > 0) parts.push(`writing peaked at ${Math.round(peak)} characters/s`);
    parts.push(`${m.resumes.length} provider resume${m.resumes.length === 1 ? "" : "s"}`);
    if (m.reconnects.length) parts.push(`${m.reconnects.length} reconnect${m.reconnects.length === 1 ? "" : "s"} of this page`);
    if (m.polls.length) parts.push(`${m.polls.length} polls`);
    return `${Charts.clock(m.duration / 1000)} in all: ` + parts.join(" · ") + ".";
  }

  const rows = { phases: 18, searches: 48, reasoning: 72, text: 100 };

  /** Draws the model into `container`; returns the SVG (its marks carry data-mark). */
  function draw(container, m) {
    // Drawn at the width it is shown (300 to 600), so its text stays legible on a phone.
    const width = Math.round(Math.min(600, Math.max(300, container.clientWidth || 600))), height = 190, left = 70, right = 10;
    const x = (at) => left + ((at - m.start) / m.duration) * (width - left - right);
    const chart = Charts.svg(width, height, summary(m));
    const el = Charts.el;
    for (const [name, y] of [["phases", rows.phases], ["searches", rows.searches], ["reasoning", rows.reasoning], ["writing", rows.text + 36]]) {
      chart.append(el("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, name));
    }
    for (const p of m.phases) {
      const band = el("rect", { x: x(p.from), y: rows.phases - 8, width: Math.max(1, x(p.to) - x(p.from)), height: 16,
                                class: "phase phase-" + p.phase, "data-mark": "phase", "data-phase": p.phase });
      band.append(el("title", {}, `${p.phase}: ${Charts.clock((p.to - p.from) / 1000)}`));
      chart.append(band);
    }
    for (const at of m.searches) chart.append(el("circle", { cx: x(at), cy: rows.searches, r: 4, class: "mark-search", "data-mark": "search" }));
    const sliceWidth = (width - left - right) / m.rate.length;
    const peakReasoning = Math.max(1, ...m.rate.map((r) => r.reasoningPerSecond));
    const peakText = Math.max(1, ...m.rate.map((r) => r.perSecond));
    m.rate.forEach((r, i) => {
      if (r.reasoningPerSecond > 0) {
        const h = Math.max(1, (r.reasoningPerSecond / peakReasoning) * 14);
        chart.append(el("rect", { x: left + i * sliceWidth, y: rows.reasoning + 7 - h, width: Math.max(1, sliceWidth - 1), height: h, class: "mark-reasoning", "data-mark": "reasoning" }));
      }
      if (r.perSecond > 0) {
        const h = Math.max(1, (r.perSecond / peakText) * 60);
        const bar = el("rect", { x: left + i * sliceWidth, y: rows.text + 60 - h, width: Math.max(1, sliceWidth - 1), height: h, class: "mark-text", "data-mark": "text" });
        bar.append(el("title", {}, `${Math.round(r.perSecond)} characters/s`));
        chart.append(bar);
      }
    });
    chart.append(el("text", { x: left + 2, y: rows.text - 4, class: "tick" }, `${Math.round(peakText)} chars/s`));
    chart.append(el("line", { x1: left, y1: rows.text + 60, x2: width - right, y2: rows.text + 60, class: "axis" }));
    for (const at of m.resumes) {
      const line = el("line", { x1: x(at), y1: 4, x2: x(at), y2: rows.text + 60, class: "mark-resume", "data-mark": "resume" });
      line.append(el("title", {}, "the provider's stream was resumed"));
      chart.append(line);
    }
    for (const at of m.reconnects) {
      const line = el("line", { x1: x(at), y1: 4, x2: x(at), y2: rows.text + 60, class: "mark-reconnect", "data-mark": "reconnect" });
      line.append(el("title", {}, "this page reconnected"));
      chart.append(line);
    }
    chart.append(el("text", { x: left, y: height - 4, class: "tick" }, "0:00"));
    chart.append(el("text", { x: width - right, y: height - 4, "text-anchor": "end", class: "tick" }, Charts.clock(m.duration / 1000)));
    const playhead = el("line", { x1: left, y1: 2, x2: left, y2: rows.text + 62, class: "playhead", id: "timeline-playhead", visibility: "hidden" });
    chart.append(playhead);
    container.replaceChildren(chart);
    const bySequence = new Map(m.sequences);
    /** Moves the playhead to the event with this sequence (during a playback). */
    chart.moveTo = (sequence) => {
      const at = bySequence.get(sequence);
      if (at === undefined) return;
      playhead.setAttribute("x1", x(at)); playhead.setAttribute("x2", x(at));
      playhead.setAttribute("visibility", "visible");
      playhead.dataset.sequence = String(sequence);
    };
    return chart;
  }

  return { load, model, summary, draw };
})();
