// Small SVG charts drawn by the page itself (no external scripts; attributes and
// classes only, so the Content-Security-Policy needs no inline styles). Shared
// by the session page's timeline and the diagnostics page's last-day charts.
"use strict";

const Charts = (() => {
  const NS = "http://www.w3.org/2000/svg";

  function el(name, attributes = {}, text) {
    const node = document.createElementNS(NS, name);
    for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** An SVG that scales to its box, described for screen readers by `label`. */
  function svg(width, height, label) {
    return el("svg", { viewBox: `0 0 ${width} ${height}`, width: "100%", role: "img", "aria-label": label, class: "chart" });
  }

  /** "m:ss" (or "h:mm:ss") for seconds. */
  function clock(seconds) {
    const s = Math.max(0, Math.round(seconds));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = String(s % 60).padStart(2, "0");
    return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${r}` : `${m}:${r}`;
  }

  /** Seconds as a person reads a latency: "850 ms", "2.4 s". */
  function latency(seconds) {
    if (seconds === 0) return "0";
    return seconds < 1 ? (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 0) + " ms" : seconds.toFixed(1) + " s";
  }

  /**
   * The last 24 hours, one slot per hour ending with the current one: `series`
   * is [{name, className, points: [{start (ms), value}]}], drawn as lines with a
   * dot per hour that has a value (`data-point` on each dot). `format` labels
   * the axis. Returns how many dots were drawn.
   */
  function hourly(container, { label, series, format, now = Date.now(), bars = false }) {
    // Drawn at about the size it is shown (a card column), so its text stays legible.
    const width = Math.round(Math.min(600, Math.max(300, container.clientWidth || 400))), height = 170, left = 56, right = 10, top = 16, bottom = 28;
    const hour = 3600 * 1000;
    const last = Math.floor(now / hour) * hour, first = last - 23 * hour;
    const values = series.flatMap((s) => s.points.filter((p) => p.start >= first && p.start <= last).map((p) => p.value));
    const chart = svg(width, height, label);
    container.replaceChildren(chart);
    if (!values.length) {
      chart.append(el("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "chart-empty" }, "No data in the last 24 hours"));
      chart.dataset.points = "0";
      return 0;
    }
    const max = Math.max(...values) || 1;
    const x = (start) => left + ((start - first) / (23 * hour)) * (width - left - right);
    const y = (value) => top + (1 - value / max) * (height - top - bottom);
    chart.append(el("line", { x1: left, y1: y(0), x2: width - right, y2: y(0), class: "axis" }));
    chart.append(el("line", { x1: left, y1: top, x2: left, y2: y(0), class: "axis" }));
    chart.append(el("text", { x: left - 6, y: top + 4, "text-anchor": "end", class: "tick" }, format(max)));
    chart.append(el("text", { x: left - 6, y: y(0), "text-anchor": "end", class: "tick" }, format(0)));
    for (const offset of [23, 12, 0]) {
      const at = last - offset * hour;
      const when = new Date(at);
      chart.append(el("text", { x: x(at), y: height - 8, "text-anchor": offset === 23 ? "start" : offset === 0 ? "end" : "middle", class: "tick" },
        offset === 0 ? "this hour" : String(when.getHours()).padStart(2, "0") + ":00"));
    }
    let dots = 0;
    series.forEach((s, index) => {
      const points = s.points.filter((p) => p.start >= first && p.start <= last).sort((a, b) => a.start - b.start);
      if (bars) {
        const slot = (width - left - right) / 24, barWidth = Math.max(2, slot / (series.length + 1));
        for (const p of points) {
          const bar = el("rect", { x: x(p.start) - slot / 2 + (index + 0.5) * barWidth, y: y(p.value), width: barWidth, height: Math.max(1, y(0) - y(p.value)),
                                   class: "series " + s.className, "data-point": s.name });
          bar.append(el("title", {}, `${s.name}, ${new Date(p.start).getHours()}:00: ${format(p.value)}`));
          chart.append(bar);
          dots += 1;
        }
        return;
      }
      if (points.length > 1) chart.append(el("polyline", { points: points.map((p) => `${x(p.start)},${y(p.value)}`).join(" "), class: "series " + s.className }));
      for (const p of points) {
        const dot = el("circle", { cx: x(p.start), cy: y(p.value), r: 3, class: "series " + s.className, "data-point": s.name });
        dot.append(el("title", {}, `${s.name}, ${new Date(p.start).getHours()}:00: ${format(p.value)}`));
        chart.append(dot);
        dots += 1;
      }
    });
    // The legend: each series' name in its colour.
    let legendX = left + 6;
    for (const s of series) {
      chart.append(el("rect", { x: legendX, y: top - 8, width: 10, height: 4, class: "series " + s.className }));
      const name = el("text", { x: legendX + 14, y: top - 3, class: "tick" }, s.name);
      chart.append(name);
      legendX += 24 + s.name.length * 7;
    }
    chart.dataset.points = String(dots);
    return dots;
  }

  return { el, svg, clock, latency, hourly };
})();
