"""The published page in headless Chromium (Debian's, no network): charts drawn offline, nothing requested
outside the report's directory, every figure readable with JavaScript off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry.testing.browser import available, launch

from .conftest import Publish, report_json

pytestmark = pytest.mark.browser

if not available():
    pytest.skip("Debian's chromium is not installed", allow_module_level=True)

#: Pixels of a canvas that are not transparent: a chart was drawn on it.
DRAWN = """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                  let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch() as b:
        yield b


@pytest.fixture
def site(publish: Publish, duck_file: Path, tmp_path: Path) -> Path:
    assert publish("--db", str(duck_file), "--out", str(tmp_path / "site"), "--seed", "browser").exit_code == 0
    return tmp_path / "site"


def _open(browser: Any, site: Path, javascript: bool = True) -> tuple[Any, list[str], list[str]]:
    context = browser.new_context(java_script_enabled=javascript, viewport={"width": 1200, "height": 900})
    requested: list[str] = []
    errors: list[str] = []
    inside = site.resolve().as_uri() + "/"

    def guard(route: Any) -> None:
        requested.append(route.request.url)
        if route.request.url.startswith(inside):
            route.continue_()
        else:  # anything else would be a network request: refuse it (and the test fails on the list)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type in ("error", "warning") else None)
    page.goto(inside + "index.html")
    return page, requested, errors


def test_the_page_draws_every_chart_offline_and_requests_only_its_own_files(browser: Any, site: Path) -> None:
    page, requested, errors = _open(browser, site)
    page.wait_for_function("document.body.dataset.charts !== undefined", timeout=15_000)
    report = report_json(site)
    charts = sum(1 for rows in report["tables"].values() if rows) + (1 if report["weekly_active_installs"] else 0)
    assert charts >= 5 and page.evaluate("document.body.dataset.charts") == str(charts)
    for canvas in page.query_selector_all("canvas"):
        assert canvas.evaluate(DRAWN) > 500, canvas.get_attribute("id")
    inside = site.resolve().as_uri() + "/"
    assert requested and all(url.startswith(inside) for url in requested), requested
    assert {url[len(inside):] for url in requested} == {"index.html", "chart.umd.min.js", "report.js"}
    assert errors == []
    page.context.close()


def test_every_figure_is_in_the_page_without_javascript(browser: Any, site: Path) -> None:
    page, _, errors = _open(browser, site, javascript=False)
    text = page.inner_text("body")
    report = report_json(site)
    assert f"k = {report['k']}" in text and "How this report protects you" in text
    for rows in report["tables"].values():
        for row in rows:
            assert row["value"] in text and str(row["installs"]) in text
    for week in report["weekly_active_installs"]:
        assert week["week"] in text
    assert page.evaluate("document.body.dataset.charts") is None  # no script ran: the tables are the content
    assert errors == []
    page.context.close()
