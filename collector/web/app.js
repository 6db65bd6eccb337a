// Boot: the header's controls, the event websocket, and every registered
// panel loaded now, on changes and on its own timer.
"use strict";

(function (pulse) {
  const { $ } = pulse;
  const RECENT = 100; // events the stream replays to a page that opens
  let ws = null;
  let generation = 0;
  let backoff = 1000;
  let failedOpens = 0;

  function loadAll() {
    for (const p of pulse.panels()) if (p.load) p.load();
  }

  function dispatch(ev) {
    for (const p of pulse.panels()) {
      if (!p.onEvent) continue;
      try { p.onEvent(ev); } catch (err) { console.error("panel " + p.id + " event", err, ev); }
    }
  }

  function setStream(up, text) {
    const s = $("#stream");
    s.className = "stream " + (up ? "up" : "down");
    s.textContent = text;
  }

  function connect() {
    const gen = ++generation;
    if (ws) ws.close();
    const url = new URL("api/v1/events" + pulse.query({ recent: RECENT }), location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    // Browsers cannot set headers on a websocket: the token travels as a
    // second subprotocol, which the collector checks and never echoes.
    const protocols = ["pulse.v1"];
    const token = pulse.token();
    if (token) protocols.push("pulse.token." + token);
    let opened = false;
    const sock = new WebSocket(url, protocols);
    ws = sock;
    sock.onopen = () => {
      if (gen !== generation) return;
      opened = true;
      backoff = 1000;
      failedOpens = 0;
      $("#token-form").hidden = true;
      setStream(true, "live");
      loadAll(); // catch up on what happened while disconnected
    };
    sock.onmessage = (m) => {
      if (gen !== generation) return;
      let ev;
      try { ev = JSON.parse(m.data); } catch (err) { console.error("bad event", err, m.data); return; }
      dispatch(ev);
    };
    sock.onclose = (e) => {
      if (gen !== generation) return;
      if (!opened && pulse.filterError) {
        // The collector refused the filter, as the page already shows:
        // wait for a new one rather than retry this one.
        setStream(false, "paused: fix the filter");
        return;
      }
      if (!opened && ++failedOpens >= 2) $("#token-form").hidden = false;
      setStream(false, "reconnecting" + (e.reason ? ": " + e.reason : ""));
      setTimeout(() => { if (gen === generation) connect(); }, backoff);
      backoff = Math.min(backoff * 2, 30000);
    };
  }

  $("#filter").value = pulse.select;
  $("#filter-form").addEventListener("submit", (e) => {
    e.preventDefault();
    pulse.select = $("#filter").value.trim();
    const u = new URL(location.href);
    if (pulse.select) u.searchParams.set("select", pulse.select); else u.searchParams.delete("select");
    history.replaceState(null, "", u);
    // A filter the collector refuses keeps the stream as it was: the
    // error shows above the fleet, which stays on screen.
    pulse.fleet.load().then((ok) => { if (ok) connect(); });
  });
  $("#problems").addEventListener("change", (e) => pulse.fleet.setProblemsOnly(e.target.checked));
  $("#sort").addEventListener("change", (e) => pulse.fleet.setSort(e.target.value));
  $("#token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("pulse.token", $("#token").value);
    loadAll();
    connect();
  });

  for (const p of pulse.panels()) {
    if (p.load && p.every) setInterval(p.load, p.every);
  }
  loadAll();
  connect();
})(window.pulse);
