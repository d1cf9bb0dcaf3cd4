/* The dashboard page: reads the filters, asks the collector's query API for each panel, draws it with the
   bundled Chart.js, and offers each panel's numbers as a table and as CSV/JSON. Nothing is loaded from
   anywhere but the collector. */
"use strict";

const TOKEN_KEY = "blindai-telemetry-token";
const PALETTE = ["#2563eb", "#f97316", "#16a34a", "#9333ea", "#dc2626", "#0891b2", "#ca8a04", "#db2777",
                 "#4b5563", "#65a30d"];
const MODE_COLORS = {hardware: "#16a34a", simulation: "#2563eb", dcsv3: "#9333ea"};

/* The page's state, exposed for people poking at it in the console (and for the browser tests). */
const dashboard = {charts: {}, data: {}, summary: null, loads: 0, generation: 0};
window.dashboard = dashboard;

// --- access token: only needed when the collector listens beyond loopback -----------------------------------

function takeTokenFromHash() {
  // `#token=...` lets an operator open the page with the token once; it is then kept for this tab only and
  // removed from the address bar so that it does not end up in the history or a screenshot.
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("token")) {
    sessionStorage.setItem(TOKEN_KEY, params.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
}

async function api(path, params, asText) {
  const url = new URL(path, location.href);
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) url.searchParams.set(k, v);
  for (let attempt = 0; attempt < 2; attempt++) {
    const headers = {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const response = await fetch(url, {headers, cache: "no-store"});
    if (response.status === 401 && attempt === 0) {
      const entered = prompt("This collector needs its admin token to show the dashboard:");
      if (!entered) throw new Error("The admin token is required (open the page with #token=…).");
      sessionStorage.setItem(TOKEN_KEY, entered.trim());
      continue;
    }
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = JSON.stringify((await response.json()).detail); } catch (e) { /* not JSON */ }
      throw Object.assign(new Error(`${url.pathname}: ${response.status} ${detail}`), {status: response.status});
    }
    return asText ? response.text() : response.json();
  }
  throw new Error("The admin token was refused.");
}

// --- filters ------------------------------------------------------------------------------------------------

const form = () => document.getElementById("filters");

function isoDay(date) { return date.toISOString().slice(0, 10); }

function currentFilters() {
  const f = form().elements;
  const out = {app: f.app.value, app_version: f.app_version.value, mode: f.mode.value,
               granularity: f.granularity.value, include_ci: f.include_ci.checked ? "true" : "false"};
  const range = f.range.value;
  form().classList.toggle("show-custom", range === "custom");
  if (range === "custom") {
    out.from = f.from.value;
    out.to = f.to.value;
  } else if (range !== "all") {
    const today = new Date();
    out.to = isoDay(today);
    out.from = isoDay(new Date(today.getTime() - (Number(range) - 1) * 86400000));
  }
  return out;
}

function fillSelect(select, values, label) {
  const keep = select.value;
  select.replaceChildren(new Option(label, ""), ...values.map(v => new Option(v, v)));
  if (values.includes(keep)) select.value = keep;
}

// --- number formatting --------------------------------------------------------------------------------------

const fmt = new Intl.NumberFormat("en");
function show(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") return fmt.format(value);
  return String(value);
}

// --- panels: how each one's table becomes a chart ----------------------------------------------------------

function pivot(rows, keyIndex, seriesIndex, valueIndex) {
  // [[period, series, value], ...] -> labels (periods) and one dataset per series, zero where absent.
  const labels = [...new Set(rows.map(r => r[keyIndex]))];
  const series = [...new Set(rows.map(r => r[seriesIndex]))];
  const at = new Map(rows.map(r => [r[keyIndex] + "\u0000" + r[seriesIndex], r[valueIndex]]));
  return {labels, datasets: series.map((s, i) => ({
    label: String(s), data: labels.map(l => at.get(l + "\u0000" + s) ?? 0),
    backgroundColor: MODE_COLORS[s] || PALETTE[i % PALETTE.length],
    borderColor: MODE_COLORS[s] || PALETTE[i % PALETTE.length],
  }))};
}

function columns(rows, labelFn, valueIndex, label) {
  return {labels: rows.map(labelFn), datasets: [{label, data: rows.map(r => r[valueIndex]),
                                                 backgroundColor: PALETTE[0], borderColor: PALETTE[0]}]};
}

const HW_LABEL = {cpu_count: v => `${v} CPUs`, memory_gb: v => `${v} GB RAM`};

const PANELS = {
  active_installs: {type: "line", chart: b => ({labels: b.rows.map(r => r[0]), datasets: [
    {label: "servers", data: b.rows.map(r => r[1]), borderColor: PALETTE[0], backgroundColor: PALETTE[0]},
    {label: "clients", data: b.rows.map(r => r[2]), borderColor: PALETTE[1], backgroundColor: PALETTE[1]},
  ]})},
  events: {type: "bar", stacked: true, chart: b => pivot(b.rows, 0, 1, 2)},
  modes: {type: "bar", stacked: true, percent: true, chart: b => pivot(b.rows.map(r => [r[0], r[1], r[3]]), 0, 1, 2)},
  versions: {type: "line", chart: b => pivot(b.rows.map(r => [r[0], `${r[1]} ${r[2]}`, r[3]]), 0, 1, 2)},
  platforms: {type: "bar", horizontal: true, chart: b => columns(b.rows, r => `${r[0].replace(/_/g, " ")}: ${r[1]}`, 2, "installs")},
  performance: {type: "line", byChoice: true, chart: b => {
    const out = {labels: [...new Set(b.rows.map(r => String(r[0])))], datasets: []};
    let i = 0;
    for (const event of [...new Set(b.rows.map(r => r[1]))]) {
      for (const [q, idx] of [["p50", 3], ["p95", 4], ["p99", 5]]) {
        const at = new Map(b.rows.filter(r => r[1] === event).map(r => [String(r[0]), r[idx]]));
        const color = PALETTE[i++ % PALETTE.length];
        out.datasets.push({label: `${event} ${q} (ms)`, data: out.labels.map(l => at.get(l) ?? null),
                           borderColor: color, backgroundColor: color, spanGaps: true});
      }
    }
    return out;
  }},
  model_sizes: {type: "bar", chart: b => columns(b.rows, r => r[2], 3, "uploads")},
  uptime: {type: "bar", chart: b => columns(b.rows, r => r[0], 1, "server processes")},
  hardware: {type: "bar", chart: b => columns(b.rows, r => HW_LABEL[r[0]](r[1]), 2, "installs")},
  funnel: {type: "bar", horizontal: true, windowChoice: true, chart: b => columns(b.rows, r => r[0], 1, "installs")},
  retention: {type: "line", percent: true, showTable: true, chart: b => {
    const weeks = [...new Set(b.rows.map(r => r[1]))].sort((x, y) => x - y);
    const cohorts = [...new Set(b.rows.map(r => r[0]))];
    return {labels: weeks.map(w => `week ${w}`), datasets: cohorts.map((c, i) => {
      const at = new Map(b.rows.filter(r => r[0] === c).map(r => [r[1], r[3]]));
      return {label: `cohort ${c}`, data: weeks.map(w => at.get(w) ?? null),
              borderColor: PALETTE[i % PALETTE.length], backgroundColor: PALETTE[i % PALETTE.length]};
    })};
  }},
};

function chartOptions(spec) {
  const percent = v => `${Math.round(v * 100)}%`;
  const valueAxis = {beginAtZero: true, stacked: !!spec.stacked,
                     ticks: spec.percent ? {callback: percent} : {precision: 0}};
  if (spec.percent && spec.stacked) valueAxis.max = 1;
  // Horizontal bars name categories (platforms, funnel steps): every label must show.
  const categoryAxis = {stacked: !!spec.stacked,
                        ticks: spec.horizontal ? {autoSkip: false} : {maxRotation: 0, autoSkipPadding: 12}};
  return {
    responsive: true, maintainAspectRatio: false, animation: false,
    indexAxis: spec.horizontal ? "y" : "x",
    interaction: {mode: "nearest", intersect: false},
    plugins: {legend: {position: "bottom", labels: {boxWidth: 12, usePointStyle: true}},
              tooltip: spec.percent ? {callbacks: {label: c => `${c.dataset.label}: ${percent(c.parsed.y)}`}} : {}},
    scales: spec.horizontal ? {x: valueAxis, y: categoryAxis} : {x: categoryAxis, y: valueAxis},
  };
}

function renderTable(container, body) {
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const c of body.columns) head.appendChild(Object.assign(document.createElement("th"), {textContent: c}));
  const tbody = table.createTBody();
  for (const row of body.rows) {
    const tr = tbody.insertRow();
    row.forEach((v, i) => {
      const td = tr.insertCell();
      td.textContent = body.columns[i] === "share" && v != null ? `${(v * 100).toFixed(1)}%` : show(v);
      if (typeof v === "number") td.className = "num";
    });
  }
  container.replaceChildren(table);
}

function download(name, text, type) {
  const link = Object.assign(document.createElement("a"), {download: name,
    href: URL.createObjectURL(new Blob([text], {type}))});
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function panelParams(id, section) {
  const params = currentFilters();
  const by = section.querySelector("select[name=by]");
  if (by) params.by = by.value;
  const win = section.querySelector("input[name=window_days]");
  if (win) params.window_days = win.value;
  return params;
}

function buildPanel(meta) {
  const spec = PANELS[meta.id];
  const section = document.getElementById("panel-template").content.firstElementChild.cloneNode(true);
  section.id = "panel-" + meta.id;
  section.dataset.panel = meta.id;
  section.querySelector("h2").textContent = meta.title;
  section.querySelector(".description").textContent = meta.description;
  const extra = section.querySelector(".extra");
  if (spec.byChoice) {
    extra.innerHTML = '<label>by <select name="by"><option value="time">time</option>' +
                      '<option value="version">version</option><option value="mode">mode</option></select></label>';
  }
  if (spec.windowChoice) {
    extra.innerHTML = '<label>within <input name="window_days" type="number" min="1" max="90" value="7"> days</label>';
  }
  extra.addEventListener("change", () => loadPanel(meta.id, dashboard.generation));
  const toggle = section.querySelector(".toggle-table");
  const setTable = on => {
    section.querySelector(".table").hidden = !on;
    toggle.setAttribute("aria-pressed", String(on));
  };
  setTable(!!spec.showTable);
  toggle.addEventListener("click", () => setTable(toggle.getAttribute("aria-pressed") !== "true"));
  section.querySelector(".export-csv").addEventListener("click", async () =>
    download(`${meta.id}.csv`, await api(`api/v1/${meta.id}`, {...panelParams(meta.id, section), format: "csv"}, true), "text/csv"));
  section.querySelector(".export-json").addEventListener("click", () =>
    download(`${meta.id}.json`, JSON.stringify(dashboard.data[meta.id], null, 2), "application/json"));
  document.getElementById("panels").appendChild(section);
}

async function loadPanel(id, generation) {
  const section = document.getElementById("panel-" + id);
  const spec = PANELS[id];
  const body = await api(`api/v1/${id}`, panelParams(id, section));
  // Answers can arrive out of order when filters change quickly: only the latest filters' answer is drawn.
  if (generation !== undefined && generation !== dashboard.generation) return;
  dashboard.data[id] = body;
  renderTable(section.querySelector(".table"), body);
  section.querySelector(".empty").hidden = body.rows.length > 0;
  section.querySelector(".chart").hidden = body.rows.length === 0;
  const data = spec.chart(body);
  if (spec.byChoice && body.filters.by !== "time") {
    spec.type = "bar";  // versions and modes are categories, not a time line
  } else if (spec.byChoice) {
    spec.type = "line";
  }
  const old = dashboard.charts[id];
  if (old && old.config.type === spec.type) {
    old.data = data;
    old.update();
  } else {
    if (old) old.destroy();
    dashboard.charts[id] = new Chart(section.querySelector("canvas"), {type: spec.type, data, options: chartOptions(spec)});
  }
}

async function loadAll(alsoWaitFor) {
  document.body.classList.add("loading");
  const error = document.getElementById("error-notice");
  try {
    const generation = ++dashboard.generation;
    const panels = [...document.querySelectorAll(".panel")].map(s => loadPanel(s.dataset.panel, generation));
    await Promise.all([...panels, alsoWaitFor]);
    error.hidden = true;
  } catch (e) {
    error.textContent = String(e.message || e);
    error.hidden = false;
  } finally {
    dashboard.loads += 1;
    document.body.classList.remove("loading");
    document.body.dataset.loads = String(dashboard.loads);
  }
}

function showSummary(summary) {
  dashboard.summary = summary;
  document.getElementById("total-events").textContent = show(summary.events);
  document.getElementById("total-installs").textContent = show(summary.installs);
  document.getElementById("retention").textContent =
    summary.retention_days ? `${show(summary.retention_days)} days` : "not set";
  document.getElementById("retention").title = "Events older than this are deleted by the collector.";
  if (summary.seeded > 0) {
    const notice = document.getElementById("seeded-notice");
    notice.textContent = `These figures include ${show(summary.seeded)} seeded events: synthetic history ` +
                         "written by `blindai-telemetry demo`, not real use.";
    notice.hidden = false;
  }
}

async function start() {
  takeTokenFromHash();
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#374151";
  const error = document.getElementById("error-notice");
  const fail = e => { error.textContent = String(e.message || e); error.hidden = false; };
  try {
    // The totals count all stored data and are the slowest answer: the panels do not wait for them. The
    // first call goes alone, so that a collector that wants a token prompts for it once.
    const panels = await api("api/v1/panels");
    const summaryShown = api("api/v1/summary").then(showSummary);
    let options;
    try {
      options = await api("api/v1/options");
    } catch (e) {
      if (e.status !== 501) throw e;
      await summaryShown;
      fail("This collector’s store has no SQL (in-memory store): only the totals above are available.");
      return;
    }
    const f = form().elements;
    fillSelect(f.app, options.apps, "All apps");
    fillSelect(f.app_version, options.app_versions, "All versions");
    fillSelect(f.mode, options.modes, "All modes");
    panels.forEach(buildPanel);
    form().addEventListener("change", () => loadAll());
    await loadAll(summaryShown);
  } catch (e) {
    fail(e);
  }
}

document.addEventListener("DOMContentLoaded", start);
