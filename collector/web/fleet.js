// The live grid: the fleet grouped by zone, one row per node, one cell per
// check and probe, with the problems-only toggle and sorting done here on
// the last view the collector sent.
"use strict";

(function (pulse) {
  const { el, $ } = pulse;
  let view = null;        // the last /api/v1/view answer
  let selected = "";
  let loadSeq = 0;
  const opts = { problems: false, sort: "name" };

  // Severity orders rows for "worst first": a down node, then CRITICAL,
  // UNKNOWN, WARNING, stale, OK.
  const RANK = { CRITICAL: 4, UNKNOWN: 3, WARNING: 2, OK: 0 };
  function severity(n) {
    if (!n.up) return 5;
    let s = 0;
    for (const c of n.checks.concat(n.probes)) {
      s = Math.max(s, RANK[c.state] || 0, c.stale ? 1 : 0);
    }
    return s;
  }
  const isProblem = (n) => severity(n) > 0;

  async function load() {
    const seq = ++loadSeq;
    const r = await pulse.get("api/v1/view" + pulse.query());
    if (seq !== loadSeq) return r.ok; // a newer load is under way
    const fleet = $("#fleet");
    if (!r.ok) {
      // Keep the last fleet on screen: a typo in the filter is not an
      // empty fleet. The error says what is wrong, as the CLI would.
      pulse.showError(r.body.error || ("cannot load the fleet (" + r.status + ")"));
      fleet.classList.add("filter-error");
      pulse.filterError = r.status === 400;
      $("#count").textContent = "filter error";
      return false;
    }
    pulse.showError("");
    pulse.filterError = false;
    fleet.classList.remove("filter-error");
    view = r.body;
    render();
    return true;
  }

  function render() {
    if (!view) return;
    const checks = new Set(), probes = new Set();
    for (const z of view.zones) for (const n of z.nodes) {
      n.checks.forEach((c) => checks.add(c.name));
      n.probes.forEach((p) => probes.add(p.name));
    }
    const checkCols = [...checks].sort(), probeCols = [...probes].sort();
    const byName = (a, b) => (a.identity < b.identity ? -1 : a.identity > b.identity ? 1 : 0);
    const order = {
      name: byName,
      worst: (a, b) => severity(b) - severity(a) || byName(a, b),
      seen: (a, b) => (a.last_seen || "").localeCompare(b.last_seen || "") || byName(a, b),
    }[opts.sort] || byName;

    const fleet = el("section");
    fleet.id = "fleet";
    fleet.setAttribute("aria-label", "fleet");
    let shown = 0, problems = 0;
    for (const z of view.zones) {
      const nodes = z.nodes.slice().sort(order);
      const bad = nodes.filter(isProblem).length;
      problems += bad;
      const rows = opts.problems ? nodes.filter(isProblem) : nodes;
      shown += rows.length;
      if (rows.length === 0 && opts.problems) continue;
      const sec = el("section", "zone");
      sec.dataset.zone = z.zone;
      sec.append(el("h2", "", (z.zone || "no zone") + " (" + z.nodes.length + (bad ? ", " + bad + " with problems" : "") + ")"));
      const table = el("table");
      const head = el("tr");
      ["node", "role", "cluster", "up"].forEach((h) => head.append(el("th", "", h)));
      checkCols.forEach((c) => head.append(el("th", "", c)));
      probeCols.forEach((p) => head.append(el("th", "", "probe " + p)));
      const thead = el("thead");
      thead.append(head);
      table.append(thead);
      const tbody = el("tbody");
      for (const n of rows) tbody.append(row(n, checkCols, probeCols));
      table.append(tbody);
      sec.append(table);
      fleet.append(sec);
    }
    if (opts.problems && shown === 0) fleet.append(el("p", "hint", "No problems: every node shown is up and every check OK."));
    fleet.dataset.select = pulse.select;
    fleet.dataset.rows = String(shown);
    fleet.dataset.sort = opts.sort;
    $("#fleet").replaceWith(fleet);
    $("#count").textContent = view.shown + " / " + view.total + " nodes" + (problems ? ", " + problems + " with problems" : "");
  }

  function row(n, checkCols, probeCols) {
    const tr = el("tr");
    tr.dataset.identity = n.identity;
    if (!n.up) tr.classList.add("node-down");
    if (n.identity === selected) tr.classList.add("selected");
    tr.append(el("td", "identity", n.identity));
    tr.append(el("td", "", (n.labels && n.labels.role) || ""));
    tr.append(el("td", "", (n.labels && n.labels.cluster) || ""));
    tr.append(el("td", "up", n.up ? "up" : "down"));
    const byName = (list) => Object.fromEntries(list.map((c) => [c.name, c]));
    const cs = byName(n.checks), ps = byName(n.probes);
    checkCols.forEach((c) => tr.append(cell(cs[c], "check", c)));
    probeCols.forEach((p) => tr.append(cell(ps[p], "probe", p)));
    tr.addEventListener("click", () => showNode(n.identity));
    return tr;
  }

  function cell(c, kind, name) {
    const td = el("td", "state");
    td.dataset[kind] = name;
    if (!c) {
      td.classList.add("state-none");
      td.textContent = "—";
      return td;
    }
    setCell(td, c.state, c.stale, c.output);
    return td;
  }

  function setCell(td, state, stale, output) {
    td.classList.remove("state-ok", "state-warning", "state-critical", "state-unknown", "state-none", "stale");
    td.classList.add("state-" + state.toLowerCase());
    if (stale) td.classList.add("stale");
    td.dataset.state = state;
    td.textContent = state + (stale ? " (stale)" : "");
    td.title = output || "";
  }

  async function showNode(identity) {
    selected = identity;
    document.querySelectorAll("tr.selected").forEach((r) => r.classList.remove("selected"));
    const tr = document.querySelector('tr[data-identity="' + CSS.escape(identity) + '"]');
    if (tr) tr.classList.add("selected");
    const r = await pulse.get("api/v1/nodes/" + encodeURIComponent(identity));
    if (selected !== identity) return;
    const n = r.body;
    const d = el("section");
    d.id = "details";
    d.dataset.identity = identity;
    if (!r.ok) {
      d.append(el("p", "", n.error || ("cannot load " + identity)));
      $("#details").replaceWith(d);
      return;
    }
    d.append(el("h2", "", n.identity + (n.up ? "" : " (down)")));
    d.append(el("p", "hint", "last seen " + (n.last_seen || "never") + (n.version ? ", agent " + n.version : "")));
    for (const c of n.checks.concat(n.probes)) {
      const state = c.state || pulse.stateName(c.status);
      d.append(el("h2", "", c.name + ": " + state + (c.stale ? " (stale)" : "")));
      d.append(el("pre", "", (c.output || "") + (c.long_output ? "\n" + c.long_output : "")));
    }
    d.append(el("h2", "", "facts"));
    const dl = el("dl");
    // Nested facts are shown by the dotted paths the filter language uses.
    const flat = {};
    const walk = (prefix, v) => {
      if (v && typeof v === "object" && !Array.isArray(v)) {
        for (const k of Object.keys(v)) walk(prefix ? prefix + "." + k : k, v[k]);
      } else {
        flat[prefix] = Array.isArray(v) ? JSON.stringify(v) : String(v);
      }
    };
    walk("", n.facts);
    for (const k of Object.keys(flat).sort()) dl.append(el("dt", "", k), el("dd", "", flat[k]));
    d.append(dl);
    if (n.classes && n.classes.length) d.append(el("p", "", "classes: " + n.classes.join(", ")));
    $("#details").replaceWith(d);
  }

  const reload = pulse.debounce(load, 500);
  const rerender = pulse.debounce(render, 200);
  // recount keeps the zones' and the header's problem counts true as
  // events change cells, without rebuilding the table.
  const recount = pulse.debounce(() => {
    if (!view) return;
    let problems = 0;
    for (const z of view.zones) {
      const bad = z.nodes.filter(isProblem).length;
      problems += bad;
      const h = document.querySelector('#fleet section.zone[data-zone="' + CSS.escape(z.zone) + '"] > h2');
      if (h) h.textContent = (z.zone || "no zone") + " (" + z.nodes.length + (bad ? ", " + bad + " with problems" : "") + ")";
    }
    $("#count").textContent = view.shown + " / " + view.total + " nodes" + (problems ? ", " + problems + " with problems" : "");
  }, 300);

  function findNode(id) {
    if (!view) return null;
    for (const z of view.zones) for (const n of z.nodes) if (n.identity === id) return n;
    return null;
  }

  function onEvent(ev) {
    if (!ev.identity) return;
    const n = findNode(ev.identity);
    const tr = document.querySelector('tr[data-identity="' + CSS.escape(ev.identity) + '"]');
    switch (ev.type) {
      case "check_state": {
        // Checks and probes both change state; a probe's cell is
        // data-probe.
        let c = n && n.checks.find((x) => x.name === ev.check), kind = "check";
        if (!c && n) { c = n.probes.find((x) => x.name === ev.check); kind = "probe"; }
        if (!c) { reload(); break; }
        c.state = pulse.stateName(ev.status || 0);
        c.stale = false;
        c.output = ev.message;
        const td = tr && tr.querySelector("td[data-" + kind + '="' + CSS.escape(ev.check) + '"]');
        if (td) {
          setCell(td, c.state, false, ev.message);
          td.classList.remove("flash");
          void td.offsetWidth; // restart the animation
          td.classList.add("flash");
        }
        // A row may join or leave the problems, or move in the order.
        if (opts.problems || opts.sort === "worst" || !td) rerender();
        break;
      }
      case "node_up":
        // A node comes up with (possibly new) facts, so its zone and
        // whether it matches the filter may have changed: reload.
        reload();
        break;
      case "node_down":
        if (!n) { reload(); break; }
        n.up = false;
        if (tr) {
          tr.classList.add("node-down");
          tr.querySelector("td.up").textContent = "down";
        }
        if (opts.problems || opts.sort === "worst" || !tr) rerender();
        break;
    }
    recount();
    if (ev.identity === selected) showNode(selected);
  }

  pulse.fleet = {
    load,
    setProblemsOnly(on) { opts.problems = on; render(); },
    setSort(s) { opts.sort = s; render(); },
  };
  // Staleness is a matter of time, not of events: refresh now and then.
  pulse.panel({ id: "fleet", load, onEvent, every: 15000 });
})(window.pulse);
