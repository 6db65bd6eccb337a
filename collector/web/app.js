// pulse web view: the fleet grouped by zone, live over the event websocket.
// Plain JS with no build step; it only reads from the collector and never
// sends actions. All data is inserted with textContent, never as HTML.
"use strict";

(function () {
  const STATES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];
  const FEED_MAX = 200;
  const $ = (sel) => document.querySelector(sel);

  let filterExpr = new URLSearchParams(location.search).get("filter") || "";
  let ws = null;
  let wsGeneration = 0;
  let backoff = 1000;
  let failedOpens = 0;
  let selected = "";
  let reloadTimer = null;
  let loadSeq = 0;

  // The token comes in the URL fragment (never sent to the server or its
  // logs) and is kept for this tab only.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("pulse.token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }

  function stateName(status) { return STATES[status] || "UNKNOWN"; }
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function showError(msg) {
    const e = $("#error");
    e.textContent = msg || "";
    e.hidden = !msg;
  }
  function query() {
    return filterExpr ? "?filter=" + encodeURIComponent(filterExpr) : "";
  }

  async function loadView() {
    const seq = ++loadSeq;
    let res, body;
    try {
      res = await fetch("api/v1/view" + query(), { headers: { Accept: "application/json" } });
      body = await res.json();
    } catch (err) {
      showError("cannot load the fleet from the collector: " + err);
      return;
    }
    if (seq !== loadSeq) return; // a newer load is under way
    if (!res.ok) {
      showError(body.error || res.statusText);
      render({ total: 0, shown: 0, zones: [] });
      return;
    }
    showError("");
    render(body);
  }

  function render(view) {
    const checks = new Set(), probes = new Set();
    for (const z of view.zones) for (const n of z.nodes) {
      n.checks.forEach((c) => checks.add(c.name));
      n.probes.forEach((p) => probes.add(p.name));
    }
    const checkCols = [...checks].sort(), probeCols = [...probes].sort();
    const fleet = el("section");
    fleet.id = "fleet";
    fleet.setAttribute("aria-label", "fleet");
    for (const z of view.zones) {
      const sec = el("section", "zone");
      sec.dataset.zone = z.zone;
      sec.append(el("h2", "", (z.zone || "no zone") + " (" + z.nodes.length + ")"));
      const table = el("table");
      const head = el("tr");
      ["node", "role", "cluster", "up"].forEach((h) => head.append(el("th", "", h)));
      checkCols.forEach((c) => head.append(el("th", "", c)));
      probeCols.forEach((p) => head.append(el("th", "", "probe " + p)));
      const thead = el("thead");
      thead.append(head);
      table.append(thead);
      const tbody = el("tbody");
      for (const n of z.nodes) tbody.append(row(n, checkCols, probeCols));
      table.append(tbody);
      sec.append(table);
      fleet.append(sec);
    }
    fleet.dataset.filter = filterExpr;
    fleet.dataset.rows = String(view.shown);
    $("#fleet").replaceWith(fleet);
    $("#count").textContent = view.shown + " / " + view.total + " nodes";
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
    let res, n;
    try {
      res = await fetch("api/v1/nodes/" + encodeURIComponent(identity));
      n = await res.json();
    } catch (err) {
      showError("cannot load " + identity + ": " + err);
      return;
    }
    if (selected !== identity) return;
    const d = el("section");
    d.id = "details";
    d.dataset.identity = identity;
    if (!res.ok) {
      d.append(el("p", "", n.error || res.statusText));
      $("#details").replaceWith(d);
      return;
    }
    d.append(el("h2", "", n.identity + (n.up ? "" : " (down)")));
    d.append(el("p", "hint", "last seen " + (n.last_seen || "never") + (n.version ? ", agent " + n.version : "")));
    for (const c of n.checks.concat(n.probes)) {
      const state = c.state || stateName(c.status);
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

  // scheduleReload coalesces bursts (a zone coming up at once) into one load.
  function scheduleReload() {
    if (reloadTimer) return;
    reloadTimer = setTimeout(() => { reloadTimer = null; loadView(); }, 500);
  }

  function applyEvent(ev) {
    addToFeed(ev);
    const sel = (id) => 'tr[data-identity="' + CSS.escape(id) + '"]';
    if (!ev.identity) return;
    const tr = document.querySelector(sel(ev.identity));
    switch (ev.type) {
      case "check_state": {
        const td = tr && tr.querySelector('td[data-check="' + CSS.escape(ev.check) + '"]');
        if (!td || td.classList.contains("state-none")) { scheduleReload(); break; }
        setCell(td, stateName(ev.status || 0), false, ev.message);
        td.classList.remove("flash");
        void td.offsetWidth; // restart the animation
        td.classList.add("flash");
        break;
      }
      case "node_up":
        // A node comes up with (possibly new) facts, so its zone and
        // whether it matches the filter may have changed: reload.
        scheduleReload();
        break;
      case "node_down":
        if (!tr) { scheduleReload(); break; }
        tr.classList.add("node-down");
        tr.querySelector("td.up").textContent = "down";
        break;
    }
    if (ev.identity === selected) showNode(selected);
  }

  function addToFeed(ev) {
    const li = el("li");
    const t = ev.time ? new Date(ev.time) : new Date();
    li.append(el("span", "t", t.toLocaleTimeString()));
    let cls = "";
    if (ev.type === "check_state") cls = "ev-" + stateName(ev.status || 0).toLowerCase();
    if (ev.type === "node_down") cls = "ev-critical";
    if (ev.type === "node_up") cls = "ev-ok";
    li.append(el("span", cls, ev.message || ev.type));
    li.dataset.type = ev.type;
    const feed = $("#feed");
    feed.prepend(li);
    while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  }

  function setStream(up, text) {
    const s = $("#stream");
    s.className = "stream " + (up ? "up" : "down");
    s.textContent = text;
  }

  function connect() {
    const gen = ++wsGeneration;
    if (ws) ws.close();
    const url = new URL("api/v1/events" + query(), location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    // Browsers cannot set headers on a websocket: the token travels as a
    // second subprotocol, which the collector checks and never echoes.
    const protocols = ["pulse.v1"];
    const token = sessionStorage.getItem("pulse.token");
    if (token) protocols.push("pulse.token." + token);
    let opened = false;
    const sock = new WebSocket(url, protocols);
    ws = sock;
    sock.onopen = () => {
      if (gen !== wsGeneration) return;
      opened = true;
      backoff = 1000;
      failedOpens = 0;
      $("#token-form").hidden = true;
      setStream(true, "live");
      loadView(); // catch up on what happened while disconnected
    };
    sock.onmessage = (m) => {
      if (gen !== wsGeneration) return;
      try { applyEvent(JSON.parse(m.data)); } catch (err) { console.error("bad event", err, m.data); }
    };
    sock.onclose = (e) => {
      if (gen !== wsGeneration) return;
      if (!opened && ++failedOpens >= 2) $("#token-form").hidden = false;
      setStream(false, "reconnecting" + (e.reason ? ": " + e.reason : ""));
      setTimeout(() => { if (gen === wsGeneration) connect(); }, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  $("#filter").value = filterExpr;
  $("#filter-form").addEventListener("submit", (e) => {
    e.preventDefault();
    filterExpr = $("#filter").value.trim();
    const u = new URL(location.href);
    if (filterExpr) u.searchParams.set("filter", filterExpr); else u.searchParams.delete("filter");
    history.replaceState(null, "", u);
    loadView();
    connect();
  });
  $("#token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("pulse.token", $("#token").value);
    connect();
  });
  // Staleness is a matter of time, not of events: refresh now and then.
  setInterval(loadView, 15000);
  loadView();
  connect();
})();
