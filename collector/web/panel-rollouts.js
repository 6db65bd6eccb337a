// Rollouts: the one running now, step by step, and the last ones with how
// they ended — which gate failed on which nodes, and whether the nodes went
// back. Whoever ran them, the CLI or the action API.
"use strict";

(function (pulse) {
  const { el } = pulse;
  const SHOWN = 6;

  async function load() {
    const r = await pulse.get("api/v1/rollouts");
    const b = pulse.body("rollouts");
    if (!r.ok) {
      b.append(el("p", "hint", pulse.problem(r, "rollouts")));
      pulse.replace("rollouts", b);
      return;
    }
    const recs = Array.isArray(r.body) ? r.body : [];
    if (recs.length === 0) {
      b.append(el("p", "hint", "No rollouts yet: pulse rollout PACKAGE --version V -W role=web"));
      pulse.replace("rollouts", b);
      return;
    }
    const ul = el("ul", "recs");
    for (const x of recs.slice(0, SHOWN)) {
      const li = el("li");
      li.dataset.id = x.id;
      li.dataset.state = x.state;
      li.append(el("span", "badge st-" + x.state, x.state.replace("_", " ")));
      const steps = x.steps || [];
      const done = steps.filter((s) => s.state === "passed" || s.state === "failed").length;
      li.append(el("span", "what", " " + x.package + " " + x.version + " on " + (x.nodes || []).length + " nodes"));
      li.append(el("span", "hint", ", step " + done + "/" + steps.length + ", by " + x.started_by + ", " +
        pulse.ago(x.finished || x.updated || x.started) + " ago"));
      if (x.state === "running") {
        const now = steps.find((s) => s.state === "running");
        if (now) li.append(el("div", "why", "now: " + now.name + " (" + now.nodes.join(", ") + ")"));
      }
      if (x.reason) li.append(el("div", "why", x.reason));
      ul.append(li);
    }
    b.append(ul);
    pulse.replace("rollouts", b);
  }

  const reload = pulse.debounce(load, 300);
  pulse.panel({
    id: "rollouts", load, every: 15000,
    onEvent(ev) { if (ev.type === "rollout") reload(); },
  });
})(window.pulse);
