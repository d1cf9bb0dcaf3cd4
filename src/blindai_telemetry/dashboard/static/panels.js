/* How each panel's answer becomes its charts. A panel draws one chart or several ("parts"), each
   `{key, title, type, labels, datasets, ...}`; columns are read by name, so a column added to an answer does
   not move the others. */
"use strict";

const PALETTE = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777",
                 "#4b5563", "#65a30d"];
const MODE_COLORS = {hardware: "#16a34a", simulation: "#2563eb", dcsv3: "#9333ea"};
/* Percentiles told apart three ways: colour, line style and point shape (and named in the legend). */
const PERCENTILES = [
  {column: "p50_ms", label: "p50", color: "#2563eb", dash: [], point: "circle"},
  {column: "p95_ms", label: "p95", color: "#f97316", dash: [8, 4], point: "triangle"},
  {column: "p99_ms", label: "p99", color: "#dc2626", dash: [2, 3], point: "rectRot"},
];
const REQUESTS = {model_run: "Model runs", model_uploaded: "Model uploads"};
const FUNNEL_STEPS = {started: "started a server", uploaded: "uploaded a model", ran: "ran a model"};

/* The answer's rows as objects keyed by column name. */
function records(body) {
  return body.rows.map(r => Object.fromEntries(body.columns.map((c, i) => [c, r[i]])));
}

function unique(values) { return [...new Set(values)]; }

function byRelease(x, y) { return String(x).localeCompare(String(y), "en", {numeric: true}); }

function colored(label, data, color, extra) {
  return {label: String(label), data, borderColor: color, backgroundColor: color, ...extra};
}

/* Rows {key, series, value} -> labels (keys in order) and one dataset per series, `missing` where absent. */
function pivot(rows, missing = 0) {
  const labels = unique(rows.map(r => r.key));
  const series = unique(rows.map(r => r.series));
  const at = new Map(rows.map(r => [r.key + "\u0000" + r.series, r.value]));
  return {labels, datasets: series.map((s, i) => colored(s, labels.map(l => at.get(l + "\u0000" + s) ?? missing),
                                                          MODE_COLORS[s] || PALETTE[i % PALETTE.length]))};
}

function columns(labels, data, label) {
  return {labels, datasets: [colored(label, data, PALETTE[0])]};
}

function performanceParts(body) {
  const rows = records(body);
  const key = body.columns[0];  // period, version or mode
  const byTime = key === "period";
  const events = unique(["model_run", "model_uploaded", ...rows.map(r => r.event)]).filter(e => rows.some(r => r.event === e));
  // One chart per kind of request, each on its own scale: runs take tens of ms, uploads up to seconds, and
  // on a shared axis the runs lay flat on the baseline.
  return events.map(event => {
    const mine = rows.filter(r => r.event === event);
    const labels = unique(mine.map(r => String(r[key])));
    const at = new Map(mine.map(r => [String(r[key]), r]));
    const values = mine.flatMap(r => PERCENTILES.map(p => r[p.column])).filter(v => v > 0);
    const logScale = values.length > 0 && Math.max(...values) / Math.min(...values) > 20;
    return {
      key: event, title: `${REQUESTS[event] || event}: duration (ms)`, type: byTime ? "line" : "bar",
      periods: byTime, yTitle: logScale ? "ms (log scale)" : "ms", logScale, labels,
      datasets: PERCENTILES.map(p => colored(p.label, labels.map(l => at.get(l)?.[p.column] ?? null), p.color,
        byTime ? {borderDash: p.dash, pointStyle: p.point, borderWidth: p.label === "p50" ? 2.5 : 2, spanGaps: true}
               : {})),
    };
  });
}

function byKind(body, kinds, part) {
  const rows = records(body);
  return kinds.filter(([kind]) => rows.some(r => r.kind === kind))
              .map(([kind, title]) => ({key: kind, title, ...part(rows.filter(r => r.kind === kind))}));
}

const PANELS = {
  active_installs: {parts: body => {
    const rows = records(body);
    return [{type: "line", periods: true, labels: rows.map(r => r.period), datasets: [
      colored("servers", rows.map(r => r.servers), PALETTE[0]),
      colored("clients", rows.map(r => r.clients), PALETTE[1]),
    ]}];
  }},
  events: {parts: body => [{type: "bar", stacked: true, periods: true,
    ...pivot(records(body).map(r => ({key: r.period, series: r.event, value: r.events})))}]},
  modes: {parts: body => [{type: "bar", stacked: true, percent: true, periods: true,
    ...pivot(records(body).map(r => ({key: r.period, series: r.mode, value: r.share})))}]},
  // Servers and clients apart: they upgrade on their own schedules and a shared legend mixed their lines.
  versions: {parts: body => {
    // Versions in release order, and each version the same colour in both charts.
    const order = unique(records(body).map(r => r.version)).sort(byRelease);
    return byKind(body, [["server", "Servers"], ["client", "Clients"]], rows => {
      const data = pivot(rows.map(r => ({key: r.period, series: r.version, value: r.installs})));
      data.datasets.sort((x, y) => byRelease(x.label, y.label));
      for (const ds of data.datasets) ds.borderColor = ds.backgroundColor = PALETTE[order.indexOf(ds.label) % PALETTE.length];
      return {type: "line", periods: true, ...data};
    });
  }},
  // What installs report of themselves, and what servers report of their clients: two charts, one per source.
  platforms: {parts: body => {
    const rows = records(body);
    return [["own", "Installs", r => !r.kind.startsWith("client_")],
            ["client", "Clients, as their servers saw them", r => r.kind.startsWith("client_")]]
      .map(([key, title, keep]) => [key, title, rows.filter(keep)]).filter(([, , mine]) => mine.length)
      .map(([key, title, mine]) => ({key, title, type: "bar", horizontal: true,
        ...columns(mine.map(r => `${r.kind.replace(/^client_/, "").replace(/_/g, " ")}: ${r.value}`),
                   mine.map(r => r.installs), "installs")}));
  }},
  performance: {byChoice: true, parts: performanceParts},
  model_sizes: {parts: body => {
    const rows = records(body);
    return [{type: "bar", ...columns(rows.map(r => r.label), rows.map(r => r.uploads), "uploads")}];
  }},
  uptime: {parts: body => {
    const rows = records(body);
    return [{type: "bar", ...columns(rows.map(r => r.bucket), rows.map(r => r.processes), "server processes")}];
  }},
  // CPU counts and memory sizes are different quantities: two charts, not one axis.
  hardware: {side: true, parts: body => byKind(body, [["cpu_count", "CPUs"], ["memory_gb", "Memory"]], rows => ({
    type: "bar", everyLabel: true,
    ...columns(rows.map(r => (r.kind === "memory_gb" ? `${r.value} GB` : `${r.value}`)), rows.map(r => r.installs),
               "installs"),
  }))},
  funnel: {windowChoice: true, parts: body => {
    const rows = records(body);
    const data = columns(rows.map(r => FUNNEL_STEPS[r.step] || r.step), rows.map(r => r.installs), "installs");
    // A bar's percentage is of the step before when the answer has it (of those that uploaded, how many ran).
    data.datasets[0].shares = rows.map(r => r.of_previous ?? r.share);
    const of = rows.some(r => r.of_previous != null) ? "of the step before" : "of those that started";
    return [{type: "bar", horizontal: true, barLabels: true, title: `Installs at each step (% ${of})`, ...data}];
  }},
  retention: {showTable: true, parts: body => {
    const rows = records(body);
    const weeks = unique(rows.map(r => r.week)).sort((x, y) => x - y);
    const cohorts = unique(rows.map(r => r.cohort));
    // Week k of a cohort is the week starting k weeks after it: the current one is still filling, and a cohort's
    // point there would read as installs leaving.
    const current = marks.periodOf(new Date().toISOString().slice(0, 10), "week");
    const weekOf = (cohort, k) => new Date(Date.parse(cohort + "T00:00:00Z") + k * 7 * 86400000).toISOString().slice(0, 10);
    const datasets = cohorts.map((c, i) => {
      const at = new Map(rows.filter(r => r.cohort === c).map(r => [r.week, r.share]));
      const ds = colored(`cohort ${c}`, weeks.map(w => at.get(w) ?? null), PALETTE[i % PALETTE.length]);
      marks.markPartial("line", [ds], j => weekOf(c, weeks[j]) >= current);
      return ds;
    });
    const partial = cohorts.some(c => weeks.some(w => weekOf(c, w) >= current));
    return [{type: "line", percent: true, labels: weeks.map(w => `week ${w}`), datasets,
             note: partial ? `Dashed: the week of ${current} is this week so far, not yet complete.` : ""}];
  }},
};

window.PANELS = PANELS;
