// Remediations: what the engine is doing (running, waiting for approval),
// what it deferred until its guards allow, and what it did or skipped, each
// with the alert it answered and why.
"use strict";

(function (pulse) {
  const { el } = pulse;
  const DONE_MAX = 10;

  async function load() {
    const r = await pulse.get("api/v1/remediations");
    const b = pulse.body("remediations");
    if (!r.ok) {
      b.append(el("p", "hint", pulse.problem(r, "remediations")));
      pulse.replace("remediations", b);
      return;
    }
    const recs = r.body.remediations || [];
    const running = recs.filter((x) => x.state === "running" || x.state === "pending");
    const deferred = recs.filter((x) => x.state === "deferred");
    const done = recs.filter((x) => !running.includes(x) && !deferred.includes(x))
      .sort((x, y) => (y.finished || y.created).localeCompare(x.finished || x.created)).slice(0, DONE_MAX);
    group(b, "running", running, "Nothing running.");
    group(b, "deferred", deferred, "Nothing deferred.");
    group(b, "done", done, "Nothing done yet.");
    pulse.replace("remediations", b);
  }

  function group(b, name, recs, empty) {
    const g = el("div", "group");
    g.dataset.group = name;
    g.dataset.count = String(recs.length);
    g.append(el("h3", "", name + " (" + recs.length + ")"));
    if (recs.length === 0) {
      g.append(el("p", "hint", empty));
      b.append(g);
      return;
    }
    const ul = el("ul", "recs");
    for (const x of recs) {
      const li = el("li");
      li.dataset.id = x.id;
      li.dataset.state = x.state;
      li.append(el("span", "badge st-" + x.state, x.state.replace("_", " ")));
      const targets = (x.targets && x.targets.length) ? x.targets.join(", ") : "no node";
      li.append(el("span", "what", " " + x.rule + " → " + targets));
      li.append(el("span", "hint", " for " + (x.alert && x.alert.name) + ", " + pulse.ago(x.finished || x.started || x.created) + " ago"));
      const why = x.detail || x.error || "";
      if (why) li.append(el("div", "why", (x.reason ? x.reason + ": " : "") + why));
      ul.append(li);
    }
    g.append(ul);
    b.append(g);
  }

  const reload = pulse.debounce(load, 300);
  pulse.panel({
    id: "remediations", load, every: 10000,
    onEvent(ev) { if (ev.type === "remediation") reload(); },
  });
})(window.pulse);
