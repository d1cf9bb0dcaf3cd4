"""The dashboard page in headless Chromium over a live collector seeded with a known fleet.

Checks that charts and tables show the seeded numbers, that filters change them, that the page loads
nothing from outside 127.0.0.1, and that it works with the admin token when the collector needs one.
"""

from __future__ import annotations

import importlib.util
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores.base import Store
from blindai_telemetry.testing.browser import available, launch

from . import dataset
from .conftest import LiveServer, build_app, open_duckdb

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]
#: Each run saves its screenshot here (ignored by git), to look at when a test fails. The README's screenshot
#: comes from the demo instead: `scripts/screenshot`.
ARTIFACTS = ROOT / "test-artifacts"
TOKEN = "dashboard-test-token"

if not available():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    # Relative to today, so that the page's default range (last 90 days) holds the whole fleet, and today (an
    # incomplete day) has events.
    today = datetime.now(timezone.utc).date()
    out = dataset.fleet(today - timedelta(days=26), days=27, servers=14, clients=9, seed=11)
    # Uploads as slow as in the wild (seconds; runs take tens of ms), so a shared linear axis would flatten runs.
    uploads = [r for r in out if r["event"] == "model_uploaded"]
    for i, r in enumerate(uploads[::3]):
        r["duration_ms"] = 2_000.0 + 8_000.0 * i / len(uploads[::3])
    # A Windows client: Python reports its architecture as AMD64 where Linux says x86_64.
    windows = {"install_id": str(uuid.UUID(int=15, version=4)), "app": "blindai-client", "app_version": "0.6.3",
               "os_name": "Windows", "arch": "AMD64", "is_ci": False, "source": "native",
               "session_id": str(uuid.UUID(int=16, version=4))}
    midnight = int(datetime.combine(today, datetime.min.time(), timezone.utc).timestamp() * 1000)
    for n, ms in enumerate((midnight - 43_200_000, midnight + 1_000)):  # yesterday noon, and today (so far)
        out.append({**windows, "event_id": str(uuid.UUID(int=17 + n, version=4)), "event": "client_connected",
                    "time": ms, "received_at": ms + 1_000})
    assert any(dataset.day_of(r["time"]) == today for r in dataset.visible(out))  # today is drawn
    return sorted(out, key=lambda r: r["time"])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, rows: list[dict[str, Any]]) -> Iterator[Store]:
    s = open_duckdb(tmp_path_factory.mktemp("browser") / "events.duckdb")
    s.write(rows)
    yield s
    s.close()


@pytest.fixture(scope="module")
def server(store: Store) -> Iterator[LiveServer]:
    live = LiveServer(build_app(store, CollectorSettings(retention_days=180)))
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.requested = []  # every URL the page asks for
    pg.on("request", lambda request: pg.requested.append(request.url))
    pg.errors = []
    pg.on("pageerror", lambda exc: pg.errors.append(str(exc)))
    pg.on("console", lambda msg: pg.errors.append(msg.text) if msg.type == "error" else None)
    yield pg
    context.close()


def _wait_loads(page: Any, n: int) -> None:
    """Wait until the page has finished loading its panels `n` times (first load, then once per change).

    A selector, not wait_for_function: the page's Content-Security-Policy forbids the eval that needs."""
    page.wait_for_selector(f'body[data-loads="{n}"]', state="attached", timeout=20_000)


def _series(page: Any, panel: str) -> dict[str, list[Any]]:
    """The data a chart draws, read from the Chart.js object: {dataset label: values}, plus "labels"."""
    return page.evaluate(f"""() => {{
        const c = window.dashboard.charts["{panel}"];
        const out = {{labels: c.data.labels}};
        for (const d of c.data.datasets) out[d.label] = d.data;
        return out;
    }}""")


def _table(page: Any, panel: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"#panel-{panel} .table tbody tr",
                                     "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))")


def test_charts_show_the_seeded_numbers_and_the_page_loads_nothing_external(
        page: Any, server: LiveServer, rows: list[dict[str, Any]]) -> None:
    page.goto(server.url + "/")
    _wait_loads(page, 1)
    assert page.text_content("#total-events") == f"{len(rows):,}"
    assert page.text_content("#total-installs") == f"{len({r['install_id'] for r in rows}):,}"
    assert page.text_content("#data-kept") == "180 days"
    seeded = sum(1 for r in rows if r["source"] == "seed")
    assert f"include {seeded:,} seeded events" in page.text_content("#seeded-notice")

    visible = dataset.visible(rows)
    daily = dataset.daily_installs(visible)
    installs = _series(page, "active_installs")
    assert installs["labels"] == list(daily)
    assert installs["servers"] == [s for s, _ in daily.values()]
    assert installs["clients"] == [c for _, c in daily.values()]

    events = _series(page, "events")
    counts = dataset.event_counts(visible)
    for event in {e for _, e in counts}:
        assert events[event] == [counts.get((day, event), 0) for day in events["labels"]]

    # The funnel's table view (shown on demand) holds the same numbers as its chart.
    page.click("#panel-funnel .toggle-table")
    funnel = _table(page, "funnel")
    assert [row[0] for row in funnel] == ["started", "uploaded", "ran"]
    assert [int(row[1]) for row in funnel] == _series(page, "funnel")["installs"]
    assert int(funnel[0][1]) == len({r["install_id"] for r in visible if r["event"] == "server_started"})

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    outside = [u for u in page.requested if urlsplit(u).hostname != "127.0.0.1" and not u.startswith("blob:")]
    assert outside == []
    assert len(page.requested) > 10  # the page, its assets and one call per panel were all observed
    assert page.errors == []


def test_filters_change_the_charts(page: Any, server: LiveServer, rows: list[dict[str, Any]]) -> None:
    page.goto(server.url + "/")
    _wait_loads(page, 1)
    total = sum(sum(v) for k, v in _series(page, "events").items() if k != "labels")
    assert total == len(dataset.visible(rows))

    page.select_option("select[name=mode]", "dcsv3")
    _wait_loads(page, 2)
    dcsv3 = _series(page, "events")
    assert sum(sum(v) for k, v in dcsv3.items() if k != "labels") == len(dataset.visible(rows, mode="dcsv3"))
    assert [ds for ds in _series(page, "modes") if ds != "labels"] == ["dcsv3"]

    page.select_option("select[name=mode]", "")
    page.check("input[name=include_ci]")
    _wait_loads(page, 4)
    with_ci = _series(page, "events")
    assert sum(sum(v) for k, v in with_ci.items() if k != "labels") == len(rows)

    page.select_option("select[name=granularity]", "month")
    _wait_loads(page, 5)
    months = {dataset.day_of(r["time"]).replace(day=1).isoformat() for r in rows}
    assert _series(page, "active_installs")["labels"] == sorted(months)
    assert page.errors == []


def test_the_page_sends_the_admin_token_when_the_collector_needs_one(
        browser: Any, store: Store, rows: list[dict[str, Any]]) -> None:
    # Settings as for a collector listening beyond loopback (the test still binds 127.0.0.1).
    live = LiveServer(build_app(store, CollectorSettings(host="0.0.0.0", admin_token=TOKEN)))
    context = browser.new_context()
    try:
        pg = context.new_page()
        auth: list[str | None] = []
        pg.on("request", lambda r: auth.append(r.headers.get("authorization")) if "/api/v1/" in r.url else None)
        pg.goto(live.url + f"/#token={TOKEN}")
        _wait_loads(pg, 1)
        assert pg.text_content("#total-events") == f"{len(rows):,}"
        assert auth and set(auth) == {f"Bearer {TOKEN}"}
        assert "token" not in pg.url  # taken out of the address bar once kept for the tab

        # A new tab without the token is asked for it once, then works.
        fresh = context.new_page()
        fresh.on("dialog", lambda dialog: dialog.accept(TOKEN))
        fresh.goto(live.url + "/")
        _wait_loads(fresh, 1)
        assert fresh.text_content("#total-installs") == f"{len({r['install_id'] for r in rows}):,}"
    finally:
        context.close()
        live.stop()


def _today() -> str:
    return datetime.now(timezone.utc).date().isoformat()


def test_the_current_period_is_drawn_as_partial(page: Any, server: LiveServer) -> None:
    """Today (and then this week) is dashed on lines, hatched on bars and named "so far", the rest is not."""
    page.goto(server.url + "/")
    _wait_loads(page, 1)
    line = page.evaluate("""() => {
        const c = window.dashboard.charts.active_installs;
        const segments = c.getDatasetMeta(0).dataset.segments;
        return {labels: c.data.labels, partial: c.$partial,
                dashes: segments.map(s => [s.start, s.end, (s.style && s.style.borderDash) || []])};
    }""")
    today = _today()
    last = len(line["labels"]) - 1
    assert line["labels"][last] == today and line["partial"] == [today]
    # Chart.js splits the line where the segment style changes: only the segment into today is dashed.
    assert [(start, end) for start, end, dash in line["dashes"] if dash] == [(last - 1, last)]
    assert all(not dash for start, end, dash in line["dashes"] if end < last)

    bars = page.evaluate("""() => {
        const c = window.dashboard.charts.events;
        return c.getDatasetMeta(0).data.map(bar => bar.options.backgroundColor instanceof CanvasPattern);
    }""")
    assert bars[-1] and not any(bars[:-1])  # hatched: only today's bar
    assert f"{today} (today so far)" in page.text_content("#panel-active_installs .note")
    page.click("#panel-active_installs .toggle-table")
    assert page.text_content("#panel-active_installs .table tbody tr:last-child td") == f"{today} (so far)"

    # Weekly retention: each cohort's point in the current week is dashed, and only that one.
    monday = datetime.now(timezone.utc).date()
    monday -= timedelta(days=monday.weekday())
    cohorts = page.evaluate("""() => window.dashboard.charts.retention.data.datasets.map((d, i) => [d.label,
        window.dashboard.charts.retention.getDatasetMeta(i).dataset.segments
            .filter(s => s.style && s.style.borderDash && s.style.borderDash.length).map(s => s.end)])""")
    weeks = {label: (monday - date.fromisoformat(label.split()[-1])).days // 7 for label, _ in cohorts}
    dashed = {label: ends for label, ends in cohorts if ends}
    assert dashed and all(ends == [weeks[label]] for label, ends in dashed.items())
    assert "this week so far" in page.text_content("#panel-retention .note")

    page.select_option("select[name=granularity]", "week")
    _wait_loads(page, 2)
    weekly = page.evaluate("() => window.dashboard.charts.active_installs.$partial")
    assert weekly == [monday.isoformat()]
    assert "this week so far" in page.text_content("#panel-active_installs .note")
    assert page.errors == []


def test_a_range_that_ended_draws_nothing_as_partial(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    _wait_loads(page, 1)
    today = datetime.now(timezone.utc).date()
    page.select_option("select[name=range]", "custom")
    page.fill("input[name=from]", (today - timedelta(days=20)).isoformat())
    page.fill("input[name=to]", (today - timedelta(days=2)).isoformat())
    _wait_loads(page, 4)  # one load per change: the range, then each day
    labels = _series(page, "active_installs")["labels"]
    assert labels and labels[-1] <= (today - timedelta(days=2)).isoformat()
    assert page.evaluate("() => window.dashboard.charts.active_installs.$partial") is None
    assert page.is_hidden("#panel-active_installs .note")
    assert page.errors == []


def _run_percentiles(page: Any) -> list[dict[str, Any]]:
    """Each dataset drawn for model runs in the performance panel: its label, style and points' heights (0 is
    the plot's bottom, 1 its top), read from the Chart.js objects whatever the panel's layout."""
    drawn = page.evaluate("""() => Object.entries(window.dashboard.charts)
        .filter(([key]) => key === "performance" || key.startsWith("performance."))
        .flatMap(([key, c]) => c.data.datasets.map((d, i) => ({
            chart: key, type: c.config.type, label: d.label, color: d.borderColor, dash: d.borderDash || [],
            heights: c.getDatasetMeta(i).data.filter((p, j) => d.data[j] != null)
                      .map(p => (c.chartArea.bottom - p.y) / (c.chartArea.bottom - c.chartArea.top))})))""")
    assert any("model_uploaded" in d["chart"] or "model_uploaded" in d["label"] for d in drawn)
    return [d for d in drawn if "model_run" in d["chart"] or "model_run" in d["label"]]


def test_request_performance_shows_runs_at_a_readable_height(page: Any, server: LiveServer) -> None:
    """Runs (tens of ms) are not flattened by uploads (seconds): each run percentile's highest point stands
    above the bottom 5 % of its plot, and p50 / p95 / p99 differ in colour and line style."""
    page.goto(server.url + "/")
    _wait_loads(page, 1)
    runs = _run_percentiles(page)
    assert sorted(re.search(r"p\d\d", d["label"]).group(0) for d in runs) == ["p50", "p95", "p99"]
    for d in runs:
        assert d["heights"] and max(d["heights"]) > 0.05, d["label"]
    assert len({(d["color"], tuple(d["dash"])) for d in runs}) == 3

    # By mode: bars per mode, the runs still on their own scale.
    page.select_option("#panel-performance select[name=by]", "mode")
    page.wait_for_selector('#panel-performance .table th:text-is("mode")', state="attached")
    runs = _run_percentiles(page)
    assert {d["type"] for d in runs} == {"bar"} and len(runs) == 3
    for d in runs:
        assert d["heights"] and max(d["heights"]) > 0.05, d["label"]
    assert page.errors == []


def test_funnel_bars_carry_their_counts_and_shares(page: Any, server: LiveServer) -> None:
    page.goto(server.url + "/")
    _wait_loads(page, 1)
    labels = page.evaluate("() => window.dashboard.charts.funnel.$barLabels")
    body = page.evaluate("() => window.dashboard.data.funnel")
    steps = [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]
    # The share of the step before when the answer has it, else of the installs that started.
    expected = [f"{r['installs']:,} · {r.get('of_previous', r['share']) * 100:.0f}%" for r in steps]
    assert labels == expected and len(labels) == 3


def test_hardware_and_versions_draw_apart_and_the_seeded_periods_are_shaded(
        page: Any, server: LiveServer, rows: list[dict[str, Any]]) -> None:
    """CPUs and memory in two charts; servers' and clients' versions in two; seeded days shaded in the charts."""
    page.goto(server.url + "/")
    _wait_loads(page, 1)
    keys = page.evaluate("() => Object.keys(window.dashboard.charts)")
    assert {"hardware.cpu_count", "hardware.memory_gb", "versions.server", "versions.client"} <= set(keys)
    memory = _series(page, "hardware.memory_gb")["labels"]
    assert memory and all(label.endswith(" GB") for label in memory)

    seeded = sorted(dataset.day_of(r["time"]).isoformat() for r in rows if r["source"] == "seed")
    labels = _series(page, "active_installs")["labels"]
    shaded = page.evaluate("() => window.dashboard.charts.active_installs.$seeded.periods")
    assert shaded == [day for day in labels if seeded[0] <= day <= seeded[-1]]
    assert len(shaded) < len(labels)  # the fixture's seeded install is seen on some days only


#: Where issue 15's data branch puts the platform-name mapping: until it is merged the page gets AMD64 as sent.
NORMALISED = any(importlib.util.find_spec(m) for m in ("blindai_telemetry.stores.platform_names",
                                                       "blindai_telemetry.dashboard.names"))


@pytest.mark.xfail(not NORMALISED, strict=True,
                   reason="AMD64 → x86_64 is normalised server-side by issue 15's data branch (not merged yet)")
def test_platforms_show_one_x86_64(page: Any, server: LiveServer) -> None:
    """A Windows install reports AMD64, a Linux one x86_64: the page shows one architecture, x86_64."""
    page.goto(server.url + "/")
    _wait_loads(page, 1)
    labels = _series(page, "platforms.own")["labels"]
    x86 = [label for label in labels if label.split(": ")[-1] in ("x86_64", "AMD64", "amd64", "x64")
           and label.startswith("arch")]
    assert x86 == ["arch: x86_64"]
    assert "os: Windows" in labels
