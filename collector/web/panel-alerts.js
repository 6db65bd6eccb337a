// Firing alerts, from Alertmanager when the collector knows it, else from
// what its webhook received, each with its nodes and the remediation it
// triggered.
"use strict";

(function (pulse) {
  const { el } = pulse;

  async function load() {
    const r = await pulse.get("api/v1/alerts");
    const b = pulse.body("alerts");
    if (!r.ok) {
      b.append(el("p", "hint", pulse.problem(r, "alerts")));
      pulse.replace("alerts", b);
      return;
    }
    const alerts = r.body.alerts || [];
    b.dataset.count = String(alerts.length);
    b.dataset.source = r.body.source || "";
    if (r.body.error) b.append(el("p", "warn", r.body.error));
    if (alerts.length === 0) {
      b.append(el("p", "hint ok", "Nothing is firing."));
    } else {
      const table = el("table", "compact");
      const head = el("tr");
      ["", "alert", "nodes", "for", "remediation"].forEach((h) => head.append(el("th", "", h)));
      table.append(head);
      for (const a of alerts) {
        const tr = el("tr");
        tr.dataset.alert = a.name;
        tr.dataset.fingerprint = a.fingerprint;
        tr.append(el("td", "sev sev-" + (a.severity || "none"), a.severity || ""));
        const name = el("td", "", a.name);
        name.title = a.summary || "";
        tr.append(name);
        tr.append(el("td", "nodes", labelNodes(a)));
        tr.append(el("td", "", pulse.ago(a.starts_at)));
        tr.append(remediationCell(a.remediation));
        table.append(tr);
      }
      b.append(table);
    }
    b.append(el("p", "source hint", "from " + (r.body.source || "?")));
    pulse.replace("alerts", b);
  }

  // labelNodes names the nodes an alert is about, or its zone when it is
  // about a zone.
  function labelNodes(a) {
    const l = a.labels || {};
    const nodes = (a.nodes || []).join(", ");
    if (!l.identity && l.az) return "zone " + l.az + (nodes ? ": " + nodes : "");
    return nodes;
  }

  function remediationCell(rem) {
    const td = el("td", "rem");
    if (!rem) {
      td.textContent = "none";
      td.classList.add("hint");
      return td;
    }
    td.dataset.state = rem.state;
    td.append(el("span", "badge st-" + rem.state, rem.state));
    td.append(document.createTextNode(" " + rem.rule + (rem.reason ? " (" + rem.reason + ")" : "")));
    td.title = rem.detail || "";
    return td;
  }

  const reload = pulse.debounce(load, 500);
  pulse.panel({
    id: "alerts", load, every: 10000,
    onEvent(ev) { if (ev.type === "remediation" || ev.type === "alert") reload(); },
  });
})(window.pulse);
