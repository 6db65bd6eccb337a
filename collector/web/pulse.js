// pulse web view, shared core: helpers, the collector's API, and the panel
// registry every other script adds itself to. Plain JS with no build step;
// the page only reads from the collector and never sends actions. All data
// is inserted with textContent, never as HTML.
"use strict";

window.pulse = (function () {
  const STATES = ["OK", "WARNING", "CRITICAL", "UNKNOWN"];
  const panels = [];

  // The token comes in the URL fragment (never sent to the server or its
  // logs) and is kept for this tab only.
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("token")) {
    sessionStorage.setItem("pulse.token", hash.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }

  const pulse = {
    // select is the -S filter of the page, kept in the URL.
    select: new URLSearchParams(location.search).get("select") || "",

    $: (sel) => document.querySelector(sel),
    stateName: (status) => STATES[status] || "UNKNOWN",
    token: () => sessionStorage.getItem("pulse.token") || "",

    el(tag, cls, text) {
      const e = document.createElement(tag);
      if (cls) e.className = cls;
      if (text !== undefined && text !== null) e.textContent = text;
      return e;
    },

    // query is the filter as the API's query string ("" or "?select=…").
    query(extra) {
      const q = new URLSearchParams();
      if (pulse.select) q.set("select", pulse.select);
      for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
      const s = q.toString();
      return s ? "?" + s : "";
    },

    // get fetches a JSON document from the collector with the token, and
    // returns {ok, status, body}; a network error is status 0.
    async get(path) {
      const headers = { Accept: "application/json" };
      const tok = pulse.token();
      if (tok) headers.Authorization = "Bearer " + tok;
      try {
        const res = await fetch(path, { headers });
        let body = null;
        try { body = await res.json(); } catch (_) { body = null; }
        return { ok: res.ok, status: res.status, body: body || {} };
      } catch (err) {
        return { ok: false, status: 0, body: { error: "cannot reach the collector: " + err } };
      }
    },

    // problem explains a failed get in the panel's words.
    problem(r, what) {
      if (r.status === 401) {
        pulse.$("#token-form").hidden = false;
        return what + " need the collector's token (open the URL pulse demo prints, or enter it above)";
      }
      if (r.status === 404) return what + ": this collector does not serve them";
      return (r.body && r.body.error) || ("cannot load " + what + " (" + r.status + ")");
    },

    showError(msg) {
      const e = pulse.$("#error");
      e.textContent = msg || "";
      e.hidden = !msg;
    },

    // ago says how long before now t was, for humans: "12s", "3m", "2h".
    ago(t) {
      if (!t) return "";
      const s = Math.max(0, (Date.now() - new Date(t).getTime()) / 1000);
      if (s < 90) return Math.round(s) + "s";
      if (s < 5400) return Math.round(s / 60) + "m";
      if (s < 172800) return Math.round(s / 3600) + "h";
      return Math.round(s / 86400) + "d";
    },

    percent(x, digits) {
      if (x === null || x === undefined || Number.isNaN(x)) return "—";
      return (100 * x).toFixed(digits === undefined ? 2 : digits) + "%";
    },

    // panel registers a panel: {id, load(), onEvent(ev), every}. load
    // (re)draws the panel's section #id; it is called at start, when the
    // filter changes, when the event stream (re)connects, and every
    // `every` ms if set. onEvent sees every live event.
    panel(p) {
      p.section = () => document.getElementById(p.id);
      panels.push(p);
      return p;
    },
    panels: () => panels.slice(),

    // body returns a fresh, empty body of the panel's section to draw into;
    // the caller swaps it in with replace() once drawn, so a panel never
    // flickers empty while it reloads.
    body(id) {
      const b = pulse.el("div", "body");
      b.dataset.panel = id;
      return b;
    },
    replace(id, body) {
      const s = document.getElementById(id);
      if (!s) return;
      const old = s.querySelector(":scope > .body");
      if (old) old.replaceWith(body); else s.append(body);
      s.dataset.loaded = String(Date.now());
    },

    // debounce coalesces bursts (a zone coming up at once) into one call.
    debounce(fn, ms) {
      let timer = null;
      return () => {
        if (timer) return;
        timer = setTimeout(() => { timer = null; fn(); }, ms);
      };
    },
  };
  return pulse;
})();
