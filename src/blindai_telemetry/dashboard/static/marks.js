/* What the charts mark beyond their data: periods not yet complete (dashed lines, hatched bars, "so far"),
   the seeded history (a shaded box over its periods) and the funnel's figures on its bars. Small Chart.js
   plugins written here rather than fetched: the page loads nothing but the collector's own files. */
"use strict";

const DAY_MS = 86400000;
const SO_FAR = {day: "today so far", week: "this week so far", month: "this month so far"};

/* The first day (UTC, ISO text) of the day / week (Monday) / month holding `day`: a period as rows name it. */
function periodOf(day, granularity) {
  const d = new Date(day + "T00:00:00Z");
  if (granularity === "week") return new Date(d.getTime() - ((d.getUTCDay() + 6) % 7) * DAY_MS).toISOString().slice(0, 10);
  if (granularity === "month") return day.slice(0, 8) + "01";
  return day;
}

/* The periods of an answer that are not complete, as the server says them (`partial_periods`, on every time
   series; the page and its API ship together); none for a panel that is not a time series. */
function partialPeriods(body) {
  return new Set(Array.isArray(body.partial_periods) ? body.partial_periods : []);
}

/* Why `period` is incomplete, in words: it is the current one, or the filters' range cuts it. */
function whyPartial(period, granularity) {
  const current = periodOf(new Date().toISOString().slice(0, 10), granularity);
  return period >= current ? SO_FAR[granularity] || SO_FAR.day : "partly in the range";
}

function fade(color, alpha) {
  const n = parseInt(color.slice(1), 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}

const hatches = new Map();
/* Diagonal stripes of `color` on a pale ground: a bar still being filled. */
function hatch(color) {
  if (!hatches.has(color)) {
    const tile = Object.assign(document.createElement("canvas"), {width: 8, height: 8});
    const g = tile.getContext("2d");
    g.fillStyle = fade(color, 0.25);
    g.fillRect(0, 0, 8, 8);
    g.strokeStyle = color;
    g.lineWidth = 2;
    g.beginPath();
    g.moveTo(-2, 10); g.lineTo(10, -2); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6);
    g.stroke();
    hatches.set(color, g.createPattern(tile, "repeat"));
  }
  return hatches.get(color);
}

/* Draw the datasets' points at `partial` label indexes as incomplete: a line's segment into such a point is
   dashed and faded and the point hollow; a bar is hatched. */
function markPartial(type, datasets, isPartial) {
  for (const ds of datasets) {
    const color = ds.borderColor;
    if (type === "line") {
      ds.segment = {borderDash: c => isPartial(c.p1DataIndex) ? [3, 4] : undefined,
                    borderColor: c => isPartial(c.p1DataIndex) ? fade(color, 0.55) : undefined};
      ds.pointBackgroundColor = c => isPartial(c.dataIndex) ? "#ffffff" : color;
      ds.pointRadius = c => isPartial(c.dataIndex) ? 4 : 3;
    } else {
      ds.backgroundColor = c => isPartial(c.dataIndex) ? hatch(color) : color;
      ds.borderColor = color;
      ds.borderWidth = c => isPartial(c.dataIndex) ? 1 : 0;
    }
  }
}

/* Shades the periods that hold seeded history (`options.plugins.seeded = {from, to, granularity}`). */
const seededBox = {
  id: "seeded",
  beforeDatasetsDraw(chart, args, opts) {
    const span = seededSpan(chart, opts);
    if (!span) return;
    chart.ctx.save();
    chart.ctx.fillStyle = "rgba(234, 179, 8, 0.09)";
    chart.ctx.fillRect(span.left, chart.chartArea.top, span.right - span.left, chart.chartArea.bottom - chart.chartArea.top);
    chart.ctx.restore();
    chart.$seeded = span;
  },
  afterDatasetsDraw(chart, args, opts) {
    const span = seededSpan(chart, opts);
    if (span) tag(chart, "seeded", span.left + 4, "left", "#a16207");
  },
};

/* The pixels from the first to the last period holding seeded history, or null. */
function seededSpan(chart, opts) {
  if (!opts || !opts.from) return null;
  const labels = chart.data.labels || [];
  const first = periodOf(opts.from, opts.granularity);
  const inside = labels.map((l, i) => [String(l), i]).filter(([l]) => l >= first && l <= opts.to).map(([, i]) => i);
  if (!inside.length) return null;
  const step = stepOf(chart);
  const x = chart.scales.x;
  return {left: Math.max(chart.chartArea.left, x.getPixelForValue(inside[0]) - step / 2),
          right: Math.min(chart.chartArea.right, x.getPixelForValue(inside[inside.length - 1]) + step / 2),
          periods: inside.map(i => String(labels[i]))};
}

function stepOf(chart) {
  const x = chart.scales.x;
  return (chart.data.labels || []).length > 1 ? Math.abs(x.getPixelForValue(1) - x.getPixelForValue(0)) : x.width;
}

/* Small words just above the plot (the chart keeps room for them), so that they hide no data. */
function tag(chart, text, x, align, color) {
  const g = chart.ctx;
  g.save();
  g.font = `11px ${Chart.defaults.font.family}`;
  g.fillStyle = color;
  g.textBaseline = "bottom";
  g.textAlign = align;
  g.fillText(text, x, chart.chartArea.top - 2);
  g.restore();
}

/* A grey band over the incomplete periods (`options.plugins.partial = {indexes, texts}`), saying why above it:
   the tick under it may be skipped when labels are crowded, the band and its words are not. */
const partialBand = {
  id: "partial",
  beforeDatasetsDraw(chart, args, opts) {
    if (!opts || !opts.indexes || !opts.indexes.length) return;
    const {top, bottom} = chart.chartArea;
    chart.ctx.save();
    chart.ctx.fillStyle = "rgba(107, 114, 128, 0.12)";
    for (const i of opts.indexes) {
      const [from, to] = bandOf(chart, i);
      chart.ctx.fillRect(from, top, to - from, bottom - top);
    }
    chart.ctx.restore();
    chart.$partial = opts.indexes.map(i => String(chart.data.labels[i]));
  },
  afterDatasetsDraw(chart, args, opts) {
    if (!opts || !opts.indexes || !opts.indexes.length) return;
    opts.indexes.forEach((i, n) => tag(chart, opts.texts[n], bandOf(chart, i)[1] - 2, "right", "#374151"));
  },
};

function bandOf(chart, i) {
  const x = chart.scales.x.getPixelForValue(i);
  const step = stepOf(chart);
  return [Math.max(chart.chartArea.left, x - step / 2), Math.min(chart.chartArea.right, x + step / 2)];
}

/* Writes each bar's value (and its share, when the dataset carries `shares`) beside it: the funnel's figures
   read off the chart, not only off the table. What it drew is kept in `chart.$barLabels` for the tests. */
const barLabels = {
  id: "barLabels",
  afterDatasetsDraw(chart, args, opts) {
    if (!opts || !opts.enabled) return;
    const g = chart.ctx;
    const drawn = [];
    g.save();
    g.font = `600 12px ${Chart.defaults.font.family}`;
    g.textBaseline = "middle";
    chart.data.datasets.forEach((ds, d) => {
      chart.getDatasetMeta(d).data.forEach((bar, i) => {
        const share = ds.shares && ds.shares[i] != null ? ` · ${(ds.shares[i] * 100).toFixed(0)}%` : "";
        const text = `${new Intl.NumberFormat("en").format(ds.data[i])}${share}`;
        const width = g.measureText(text).width;
        // Inside the bar's end when it is long enough, else just past it.
        const inside = bar.x - chart.chartArea.left > width + 12;
        g.fillStyle = inside ? "#ffffff" : "#111827";
        g.textAlign = inside ? "right" : "left";
        g.fillText(text, inside ? bar.x - 6 : bar.x + 6, bar.y);
        drawn.push(text);
      });
    });
    g.restore();
    chart.$barLabels = drawn;
  },
};

window.marks = {periodOf, partialPeriods, whyPartial, markPartial, fade, plugins: [seededBox, partialBand, barLabels]};
