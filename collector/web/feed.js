// The events feed: what the collector saw happen, newest first. The event
// stream sends the recent ones first (?recent=), so a page opened now shows
// what just happened; a reconnect sends them again and the feed skips the
// ones it already shows.
"use strict";

(function (pulse) {
  const { el, $ } = pulse;
  const FEED_MAX = 200;
  const seen = new Set();
  const order = [];

  // Remediation records and decisions carry their state: colour by it.
  const REMEDIATION = {
    succeeded: "ev-ok", dry_run: "ev-ok",
    failed: "ev-critical", ineffective: "ev-critical",
    deferred: "ev-warning", skipped: "ev-warning", pending: "ev-warning", rejected: "ev-warning",
  };

  const ROLLOUT = {
    succeeded: "ev-ok", running: "ev-change",
    halted: "ev-warning", rolled_back: "ev-warning", rollback_failed: "ev-critical",
  };

  function classOf(ev) {
    switch (ev.type) {
      case "check_state": return "ev-" + pulse.stateName(ev.status || 0).toLowerCase();
      case "node_down": return "ev-critical";
      case "node_up": return "ev-ok";
      case "remediation": return (ev.data && REMEDIATION[ev.data.state]) || "";
      // A change by its result, a rollout by its state.
      case "change": return ev.data && ev.data.result === "failed" ? "ev-critical" : "ev-change";
      case "rollout": return (ev.data && ROLLOUT[ev.data.state]) || "ev-change";
    }
    return "";
  }

  function onEvent(ev) {
    const key = [ev.time, ev.type, ev.identity, ev.check, ev.message].join("\u0000");
    if (seen.has(key)) return;
    seen.add(key);
    order.push(key);
    while (order.length > 4 * FEED_MAX) seen.delete(order.shift());

    const li = el("li");
    const t = ev.time ? new Date(ev.time) : new Date();
    li.append(el("span", "t", t.toLocaleTimeString()));
    li.append(el("span", classOf(ev), ev.message || ev.type));
    li.dataset.type = ev.type;
    li.dataset.time = t.toISOString();
    // Keep the feed in time order even when a backlog arrives after a
    // live event.
    const feed = $("#feed");
    let before = null;
    for (const other of feed.children) {
      if (other.dataset.time <= li.dataset.time) { before = other; break; }
    }
    feed.insertBefore(li, before);
    while (feed.children.length > FEED_MAX) feed.lastChild.remove();
  }

  pulse.panel({ id: "events", onEvent });
})(window.pulse);
