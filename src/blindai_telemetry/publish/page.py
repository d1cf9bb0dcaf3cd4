"""index.html of the public report: every figure as an HTML table (readable without JavaScript), charts on top.

The page loads nothing from outside its directory: the dashboard's bundled Chart.js and `report.js` sit beside
it, and a Content-Security-Policy forbids any other source and any connection.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

_STATIC = Path(__file__).parent / "static"
_VENDOR = Path(__file__).parents[1] / "dashboard" / "static" / "vendor"
#: Files copied beside index.html: the same chart library as the dashboard, its licence, and the page's script.
ASSETS: dict[str, Path] = {
    "chart.umd.min.js": _VENDOR / "chart.umd.min.js",
    "chart.js.LICENSE.md": _VENDOR / "chart.js.LICENSE.md",
    "report.js": _STATIC / "report.js",
}
_CSP = ("default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'none'; form-action 'none'; base-uri 'none'")
TITLES = {
    "server_versions": "Server versions",
    "client_versions": "Client versions",
    "modes": "Servers by mode",
    "os": "Operating systems",
    "arch": "CPU architectures",
}
_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d2430; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #d8dde6; }
table { border-collapse: collapse; margin: .6rem 0; } td, th { padding: .2rem .9rem; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; } tr:nth-child(even) { background: #f4f6f9; }
.protect { background: #eef5ee; border-left: 4px solid #3c8c4a; padding: .6rem 1rem; }
.warn { background: #fbeaea; border-left: 4px solid #b83a3a; padding: .6rem 1rem; }
.chart { position: relative; height: 220px; max-width: 40rem; } .muted { color: #5d6878; }
"""


def _table(header: list[str], rows: list[list[Any]], numeric: set[int]) -> str:
    if not rows:
        return '<p class="muted">Nothing to show: no value reached the threshold.</p>'
    cls = [' class="n"' if i in numeric else "" for i in range(len(header))]
    head = "".join(f"<th{c}>{escape(h)}</th>" for h, c in zip(header, cls, strict=True))
    body = "".join("<tr>" + "".join(f"<td{c}>{escape(str(v))}</td>" for v, c in zip(row, cls, strict=True))
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _protection(report: dict[str, Any]) -> str:
    k, epsilon = report["k"], report["epsilon"]
    return f"""<section class="protect" id="protection"><h2>How this report protects you</h2>
<p>Nothing here can point to you. The report is made from anonymous usage telemetry, and only from counts of
installs: no install, session or event id, no model name and no free text is ever in it.</p>
<ul>
<li><strong>At least {k} installs behind every figure.</strong> A version, mode, platform, week or latency
figure used by fewer than {k} installs is left out completely: it is not shown, not named, and not lumped
into an “other” row.</li>
<li><strong>Every count is blurred.</strong> Each count has random noise added (two-sided geometric, also
called discrete Laplace, with ε = {epsilon:g} per figure), so no figure is exact and subtracting figures from a
total cannot reveal a hidden one. Counts read as “about N”.</li>
<li><strong>Publishing again reveals nothing new.</strong> The noise comes from a secret key the publisher keeps:
the same data always gives the same figures, so comparing or averaging reports of the same period does not
remove it.</li>
<li><strong>Latencies are coarse.</strong> Request times are shown per mode only when at least {k} installs
sent them, rounded to two significant digits.</li>
<li>CI runs are not counted. Telemetry can be switched off at any time:
<code>blindai-telemetry disable</code> or <code>BLINDAI_DISABLE_TELEMETRY=1</code>.</li>
</ul>
<p class="muted">{escape(report["method"])}</p></section>"""


def _data(report: dict[str, Any]) -> str:
    # Inside <script>: no "<" may appear, so "</script>" cannot end the block early (values are checked anyway).
    text = json.dumps(report, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def html(report: dict[str, Any]) -> str:
    """The page: tables of every figure, a canvas beside each for the charts, and the figures as JSON."""
    period = report["period"]
    installs = report["installs"]
    total = (f"<p>About <strong>{installs:,}</strong> installs sent telemetry in this period.</p>"
             if installs is not None else "")
    sections = []
    for name, rows in report["tables"].items():
        table = _table(["value", "installs (about)"], [[r["value"], r["installs"]] for r in rows], {1})
        chart = f'<div class="chart"><canvas id="chart-{name}" role="img" aria-label="{escape(TITLES[name])}">' \
                "</canvas></div>" if rows else ""
        sections.append(f'<section id="{name}"><h2>{escape(TITLES[name])}</h2>{chart}{table}</section>')
    weekly = report["weekly_active_installs"]
    chart = '<div class="chart"><canvas id="chart-weekly" role="img" aria-label="Weekly active installs">' \
            "</canvas></div>" if weekly else ""
    sections.append('<section id="weekly"><h2>Weekly active installs</h2><p class="muted">Complete weeks '
                    "(Monday to Sunday, UTC) only.</p>" + chart
                    + _table(["week of", "installs (about)"], [[w["week"], w["installs"]] for w in weekly], {1})
                    + "</section>")
    latency = [[r["mode"], r["event"], r["p50_ms"], r["p95_ms"], r["p99_ms"]] for r in report["latency_ms"]]
    sections.append('<section id="latency"><h2>Request latency by mode (ms)</h2><p class="muted">Successful '
                    "model uploads and runs, as measured by the servers.</p>"
                    + _table(["mode", "request", "p50", "p95", "p99"], latency, {2, 3, 4}) + "</section>")
    seeded = ('<p class="warn"><strong>Test report, not for publication:</strong> its noise comes from a '
              "public seed and can be removed.</p>" if report["noise"] != "keyed" else "")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>BlindAI usage report, {escape(period["from"])} to {escape(period["to"])}</title>
<style>{_STYLE}</style></head>
<body>
<h1>BlindAI usage report</h1>
<p class="muted">{escape(period["from"])} to {escape(period["to"])} (UTC) · k = {report["k"]} ·
ε = {report["epsilon"]:g} · the same figures as <a href="report.json">report.json</a> and
<a href="report.csv">report.csv</a></p>
{seeded}{total}
{_protection(report)}
{"".join(sections)}
<p class="muted">Charts drawn with Chart.js (MIT licence, <a href="chart.js.LICENSE.md">licence text</a>).</p>
<script type="application/json" id="report-data">{_data(report)}</script>
<script src="chart.umd.min.js"></script>
<script src="report.js"></script>
</body></html>
"""
