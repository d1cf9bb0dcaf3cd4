/* The dashboard page: reads the filters, asks the collector's query API for each panel, draws it with the
   bundled Chart.js, and offers each panel's numbers as a table and as CSV/JSON. Nothing is loaded from
   anywhere but the collector. */
"use strict";

const TOKEN_KEY = "blindai-telemetry-token";

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

// --- charts: options, and the marks beyond the data (partial periods, seeded history, bar figures) ----------

function chartOptions(part, context) {
  const percent = v => `${Math.round(v * 100)}%`;
  // One dataset: no legend, the value axis names what is counted instead.
  const axisTitle = part.yTitle || (part.datasets.length === 1 ? part.datasets[0].label : "");
  const valueAxis = {beginAtZero: true, stacked: !!part.stacked,
                     ticks: part.percent ? {callback: percent} : {precision: 0},
                     title: {display: !!axisTitle, text: axisTitle}};
  if (part.percent && part.stacked) valueAxis.max = 1;
  // Horizontal bars name categories (platforms, funnel steps), as do the hardware charts: every label must show.
  const categoryAxis = {stacked: !!part.stacked,
                        ticks: part.horizontal || part.everyLabel ? {autoSkip: false} : {maxRotation: 0, autoSkipPadding: 12}};
  if (part.logScale) {
    // Durations spread over decades (an upload's p50 in hundreds of ms, its p99 in seconds): a log axis keeps
    // every percentile off the baseline. Labelled at powers of ten, and at 2 and 5 too over a short span only.
    Object.assign(valueAxis, {type: "logarithmic", beginAtZero: false, ticks: {callback(v) {
      const lead = v / 10 ** Math.floor(Math.log10(v) + 1e-9);
      const leads = Math.log10(this.max / this.min) > 2.5 ? [1] : [1, 2, 5];
      return leads.some(d => Math.abs(lead - d) < 1e-6) ? show(v) : "";
    }}});
  }
  const partialIndexes = part.periods ? part.labels.flatMap((l, i) => (context.partial.has(String(l)) ? [i] : [])) : [];
  const tooltipLabel = c => {
    const value = part.percent ? percent(c.parsed[part.horizontal ? "x" : "y"]) : show(c.parsed[part.horizontal ? "x" : "y"]);
    const soFar = part.periods && context.partial.has(String(c.label))
      ? ` (${marks.whyPartial(String(c.label), context.granularity)})` : "";
    return `${c.dataset.label}: ${value}${soFar}`;
  };
  return {
    responsive: true, maintainAspectRatio: false, animation: false,
    indexAxis: part.horizontal ? "y" : "x",
    interaction: {mode: "nearest", intersect: false},
    // Room for the bars' figures, and above a time series for the words "seeded" and "so far".
    layout: {padding: {right: part.barLabels ? 70 : 0, top: part.periods ? 16 : 0}},
    plugins: {legend: {display: part.datasets.length > 1, position: "bottom",
                       labels: {boxWidth: 12, usePointStyle: true}},
              tooltip: {callbacks: {label: tooltipLabel}},
              seeded: part.periods ? context.seeded : null,
              partial: {indexes: partialIndexes,
                        texts: partialIndexes.map(i => marks.whyPartial(String(part.labels[i]), context.granularity))},
              barLabels: {enabled: !!part.barLabels}},
    scales: part.horizontal ? {x: valueAxis, y: categoryAxis} : {x: categoryAxis, y: valueAxis},
  };
}

/* The panel's note under its charts: which period is incomplete, in words. */
function partialNote(parts, context) {
  const shown = unique(parts.filter(p => p.periods).flatMap(p => p.labels.map(String).filter(l => context.partial.has(l))));
  const own = parts.map(p => p.note).filter(Boolean);  // a panel that marks its own partial points says so
  if (!shown.length) return own.join(" ");
  return "Dashed or hatched, not complete: " +
         shown.sort().map(l => `${l} (${marks.whyPartial(l, context.granularity)})`).join(", ") + ".";
}

function drawParts(id, section, parts, context) {
  const holder = section.querySelector(".charts");
  holder.classList.toggle("multi", parts.length > 1);
  const keys = parts.map(p => (parts.length > 1 || p.key ? `${id}.${p.key}` : id));
  for (const [key, chart] of Object.entries(dashboard.charts)) {
    if ((key === id || key.startsWith(id + ".")) && !keys.includes(key)) {
      chart.destroy();
      delete dashboard.charts[key];
    }
  }
  const figures = parts.map(part => {
    const figure = document.createElement("figure");
    if (part.title) figure.appendChild(Object.assign(document.createElement("figcaption"), {textContent: part.title}));
    const plot = Object.assign(document.createElement("div"), {className: "plot"});
    plot.appendChild(document.createElement("canvas"));
    figure.appendChild(plot);
    return figure;
  });
  holder.replaceChildren(...figures);  // in the page first: Chart.js sizes a canvas by its container
  parts.forEach((part, i) => {
    if (dashboard.charts[keys[i]]) dashboard.charts[keys[i]].destroy();
    if (part.periods) marks.markPartial(part.type, part.datasets, j => context.partial.has(String(part.labels[j])));
    // Redrawn from scratch on every load: a chart's options (the partial periods, the seeded span) change
    // with the filters, and with animation off a new chart costs no more than an update.
    dashboard.charts[keys[i]] = new Chart(figures[i].querySelector("canvas"), {
      type: part.type, data: {labels: part.labels, datasets: part.datasets},
      options: chartOptions(part, context), plugins: marks.plugins});
  });
}

function renderTable(container, body, partial) {
  const table = document.createElement("table");
  const head = table.createTHead().insertRow();
  for (const c of body.columns) head.appendChild(Object.assign(document.createElement("th"), {textContent: c}));
  const tbody = table.createTBody();
  for (const row of body.rows) {
    const tr = tbody.insertRow();
    row.forEach((v, i) => {
      const td = tr.insertCell();
      td.textContent = body.columns[i] === "share" && v != null ? `${(v * 100).toFixed(1)}%` : show(v);
      if (i === 0 && body.columns[0] === "period" && partial.has(String(v))) {
        td.textContent += " (so far)";
        td.title = "This period is not complete yet.";
      }
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
  section.querySelector(".charts").classList.toggle("side", !!spec.side);
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
  const context = {partial: marks.partialPeriods(body), granularity: body.filters.granularity,
                   seeded: dashboard.seededSpan ? {...dashboard.seededSpan, granularity: body.filters.granularity} : null};
  renderTable(section.querySelector(".table"), body, body.filters.by === "time" || !spec.byChoice ? context.partial : new Set());
  section.querySelector(".empty").hidden = body.rows.length > 0;
  section.querySelector(".charts").hidden = body.rows.length === 0;
  const parts = body.rows.length ? spec.parts(body) : [];
  drawParts(id, section, parts, context);
  const note = section.querySelector(".note");
  note.textContent = partialNote(parts, context);
  note.hidden = !note.textContent;
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
  // "Data kept", not "retention": the page's "Weekly retention" panel is about installs coming back.
  document.getElementById("data-kept").textContent =
    summary.retention_days ? `${show(summary.retention_days)} days` : "no limit";
  document.getElementById("data-kept").title = "Events older than this are deleted by the collector.";
  if (summary.seeded > 0) {
    const notice = document.getElementById("seeded-notice");
    notice.textContent = `These figures include ${show(summary.seeded)} seeded events: synthetic history ` +
                         "written by `blindai-telemetry demo`, not real use (shaded in the charts).";
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
    if (options.seeded_first_day) dashboard.seededSpan = {from: options.seeded_first_day, to: options.seeded_last_day};
    panels.forEach(buildPanel);
    form().addEventListener("change", () => loadAll());
    await loadAll(summaryShown);
  } catch (e) {
    fail(e);
  }
}

document.addEventListener("DOMContentLoaded", start);
