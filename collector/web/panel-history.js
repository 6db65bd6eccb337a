// The last hour, as two small graphs drawn in plain SVG: how many checks
// were in each state, and each probe's success ratio. The collector keeps
// the samples itself (GET /api/v1/history), so they need no Prometheus.
"use strict";

(function (pulse) {
  const { el } = pulse;
  const NS = "http://www.w3.org/2000/svg";
  const W = 360, H = 70;
  const COLORS = { ok: "var(--ok)", warning: "var(--warning)", critical: "var(--critical)", unknown: "var(--unknown)" };

  function svg(tag, attrs) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }

  async function load() {
    const r = await pulse.get("api/v1/history");
    const b = pulse.body("history");
    if (!r.ok) {
      b.append(el("p", "hint", pulse.problem(r, "history")));
      pulse.replace("history", b);
      return;
    }
    const h = r.body;
    // Until the collector has sampled for an hour, the graphs span what
    // it has, so a fresh collector's minutes are not a sliver.
    let from = h.from;
    const first = (h.checks || [])[0];
    if (first && new Date(first.time) > new Date(from)) from = first.time;
    const span = (new Date(h.to) - new Date(from)) / 1000;
    const title = pulse.$("#history h2");
    if (title) title.textContent = span >= 3300 ? "Last hour" : "Last " + (span < 90 ? Math.max(1, Math.round(span)) + "s" : Math.round(span / 60) + "m") + " (up to an hour)";
    b.append(checksGraph(h.checks || [], from, h.to));
    for (const p of h.probes || []) b.append(probeGraph(p, from, h.to));
    pulse.replace("history", b);
  }

  // x maps a time to the graph's width over [from, to].
  function xOf(from, to) {
    const t0 = new Date(from).getTime(), t1 = new Date(to).getTime();
    return (t) => ((new Date(t).getTime() - t0) / Math.max(1, t1 - t0)) * W;
  }

  // checksGraph stacks the number of checks in each state: OK at the
  // bottom, then WARNING, UNKNOWN and CRITICAL on top where they show.
  function checksGraph(points, from, to) {
    const fig = el("figure", "graph");
    fig.dataset.graph = "checks";
    fig.dataset.points = String(points.length);
    const s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    const x = xOf(from, to);
    const max = Math.max(1, ...points.map((p) => p.ok + p.warning + p.critical + p.unknown));
    const y = (v) => H - (v / max) * (H - 2);
    let base = points.map(() => 0);
    for (const state of ["ok", "warning", "unknown", "critical"]) {
      const top = points.map((p, i) => base[i] + p[state]);
      if (points.length && top.some((v, i) => v !== base[i])) {
        let d = "M" + x(points[0].time) + "," + y(base[0]);
        points.forEach((p, i) => { d += " L" + x(p.time).toFixed(1) + "," + y(top[i]).toFixed(1); });
        for (let i = points.length - 1; i >= 0; i--) d += " L" + x(points[i].time).toFixed(1) + "," + y(base[i]).toFixed(1);
        const path = svg("path", { d: d + " Z", fill: COLORS[state], "data-state": state });
        path.append(svg("title"));
        path.firstChild.textContent = state;
        s.append(path);
      }
      base = top;
    }
    fig.append(s);
    const last = points[points.length - 1];
    const cap = last ? "checks by state, now " + last.ok + " OK, " + last.warning + " WARNING, " + last.critical + " CRITICAL, " + last.unknown + " UNKNOWN"
      : "checks by state: no samples yet";
    fig.append(el("figcaption", "", cap));
    return fig;
  }

  // probeGraph draws a probe's success ratio per sample (0–100%); a
  // sample without runs leaves a gap rather than a made-up value.
  function probeGraph(p, from, to) {
    const fig = el("figure", "graph");
    fig.dataset.graph = "probe";
    fig.dataset.probe = p.probe;
    fig.dataset.points = String(p.points.length);
    const s = svg("svg", { viewBox: "0 0 " + W + " " + H, width: W, height: H, role: "img" });
    const x = xOf(from, to);
    const y = (v) => H - 1 - v * (H - 2);
    s.append(svg("line", { x1: 0, x2: W, y1: y(1), y2: y(1), class: "grid" }));
    let d = "", pen = false, runs = 0, fails = 0;
    for (const pt of p.points) {
      runs += pt.runs; fails += pt.failures;
      if (!pt.runs) { pen = false; continue; }
      const ratio = 1 - pt.failures / pt.runs;
      d += (pen ? " L" : " M") + x(pt.time).toFixed(1) + "," + y(ratio).toFixed(1);
      pen = true;
    }
    if (d) s.append(svg("path", { d: d.trim(), class: "line" }));
    fig.append(s);
    const ratio = runs ? 1 - fails / runs : null;
    fig.dataset.success = ratio === null ? "" : ratio.toFixed(4);
    fig.append(el("figcaption", "", "probe " + p.probe + " success, " + (ratio === null ? "no runs" : pulse.percent(ratio, 1) + " of " + runs + " runs")));
    return fig;
  }

  pulse.panel({ id: "history", load, every: 15000 });
})(window.pulse);
