// Service level objectives: each SLO (per zone where it keeps one) with its
// success ratio over the period, the error budget left and how fast it
// burns, as Prometheus' recording rules (pulse rules slo) compute them.
"use strict";

(function (pulse) {
  const { el } = pulse;

  async function load() {
    const r = await pulse.get("api/v1/slos");
    const b = pulse.body("slos");
    if (!r.ok) {
      b.append(el("p", "hint", pulse.problem(r, "SLOs")));
      pulse.replace("slos", b);
      return;
    }
    const slos = r.body.slos || [];
    b.dataset.count = String(slos.length);
    if (r.body.error) b.append(el("p", "warn", r.body.error));
    if (slos.length === 0 && !r.body.error) b.append(el("p", "hint", "No SLO recording rules found in Prometheus."));
    if (slos.length) {
      const table = el("table", "compact");
      const head = el("tr");
      ["SLO", "where", "success", "objective", "budget left", "burn rate"].forEach((h) => head.append(el("th", "", h)));
      table.append(head);
      for (const s of slos) {
        const tr = el("tr");
        tr.dataset.slo = s.slo;
        const where = Object.entries(s.labels || {}).map(([k, v]) => k + "=" + v).join(" ");
        tr.dataset.where = where;
        tr.append(el("td", "", s.slo));
        tr.append(el("td", "", where || "all"));
        const ok = s.success_ratio === null || s.success_ratio >= s.objective;
        tr.append(el("td", ok ? "good" : "bad", pulse.percent(s.success_ratio, 3)));
        tr.append(el("td", "", pulse.percent(s.objective, 2)));
        tr.append(budgetCell(s.error_budget_remaining));
        const burn = el("td", s.burn_rate > 1 ? "bad" : "good", s.burn_rate === null ? "—" : s.burn_rate.toFixed(1) + "×");
        burn.title = "error ratio over " + (s.burn_rate_window || "1h") + " divided by the budget's ratio; above 1× the budget runs out before the period ends";
        tr.append(burn);
        table.append(tr);
      }
      b.append(table);
    }
    if (r.body.source) b.append(el("p", "source hint", "from " + r.body.source));
    pulse.replace("slos", b);
  }

  // budgetCell draws the budget left as a bar: full is all of it, empty
  // (or overdrawn, red) none.
  function budgetCell(left) {
    const td = el("td", "budget");
    if (left === null || left === undefined) { td.textContent = "—"; return td; }
    const bar = el("span", "bar");
    const fill = el("span", left > 0.25 ? "fill good" : "fill bad");
    fill.style.width = Math.max(0, Math.min(1, left)) * 100 + "%";
    bar.append(fill);
    td.append(bar, document.createTextNode(" " + pulse.percent(left, 0)));
    return td;
  }

  pulse.panel({ id: "slos", load, every: 30000 });
})(window.pulse);
