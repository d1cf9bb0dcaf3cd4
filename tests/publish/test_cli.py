"""`blindai-telemetry publish` over a real DuckDB file: what is published, what never is, and bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry.publish import figures, page, render
from blindai_telemetry.publish.disclosure import Disclosure, key_from_seed
from blindai_telemetry.stores import open_store

from . import dataset
from .conftest import Publish, output_text, report_json


def named(value: str, text: str) -> bool:
    return re.search(rf"(?<![\w.+-]){re.escape(value)}(?![\w.+-])", text) is not None


def exact_aggregates(duck_file: Path, today: date) -> figures.Aggregates:
    """What the report is computed from, before suppression and noise: the default 90 days up to yesterday."""
    store = open_store(db=str(duck_file))
    try:
        return figures.gather(store, *figures.period(90, today))
    finally:
        store.close()


@pytest.fixture
def site(publish: Publish, duck_file: Path, tmp_path: Path) -> Path:
    result = publish("--db", str(duck_file), "--out", str(tmp_path / "site"), "--seed", "fixed")
    assert result.exit_code == 0, result.output
    return tmp_path / "site"


def test_the_report_has_every_file_and_the_documented_shape(site: Path, today: date) -> None:
    assert {p.name for p in site.iterdir()} == {"index.html", "report.json", "report.csv", "latency.csv", *page.ASSETS}
    report = report_json(site)
    start, end = figures.period(90, today)
    assert report["k"] == 10 and report["epsilon"] == 1.0
    assert report["epsilon_report"] == 1.0 * (6 + len(figures.complete_weeks(start, end)))
    assert report["period"] == {"from": start.isoformat(), "to": end.isoformat()}
    assert set(report["tables"]) == {"server_versions", "client_versions", "modes", "os", "arch"}
    assert isinstance(report["installs"], int)


def test_published_values_are_exactly_those_with_k_installs_and_a_valid_name(site: Path, fleet: Any) -> None:
    expected: dataset.Expected = fleet[1]
    report = report_json(site)
    for table, rows in report["tables"].items():
        for row in rows:
            assert expected.tables[table][row["value"]] >= 10
            assert abs(row["installs"] - expected.tables[table][row["value"]]) < 15  # noisy, but near the truth
    published = {(t, r["value"]) for t, rows in report["tables"].items() for r in rows}
    # Every valid cell with k installs is there, unless its own noise took it under k (the seed's noise for
    # this period, recomputed: the period moves with the date).
    scope = f"{report['period']['from']}/{report['period']['to']}"
    noise = Disclosure(10, 1.0, key_from_seed("fixed"), scope)
    valid = {("server_versions", "0.6.3"), ("server_versions", "0.6.2"), ("client_versions", "0.6.3"),
             ("modes", "simulation"), ("modes", "hardware"), ("os", "Linux"), ("os", "Darwin"), ("arch", "x86_64")}
    assert published == {(t, v) for t, v in valid if noise.count(f"{t}\0{v}", expected.tables[t][v]) is not None}
    assert len(published) >= 6


def test_suppressed_values_ci_installs_and_todays_installs_are_named_nowhere(site: Path) -> None:
    files = output_text(site)
    for hidden in dataset.HIDDEN:
        for name, text in files.items():
            assert not named(hidden, text), (hidden, name)


def test_no_identifier_of_any_kind_is_written(site: Path, fleet: Any) -> None:
    rows, expected = fleet
    text = "\n".join(output_text(site).values())
    for ident in expected.ids:
        assert ident not in text and ident.replace("-", "") not in text
    for row in rows:
        if row.get("model_name"):
            assert row["model_name"] not in text


def test_weekly_figures_only_for_complete_weeks_and_never_the_current_one(site: Path, today: date) -> None:
    weeks = [w["week"] for w in report_json(site)["weekly_active_installs"]]
    monday = today - timedelta(days=today.weekday())
    # The fleet is active on each of the last four weeks' Wednesdays (or so): the current week has events too.
    assert weeks and all(date.fromisoformat(w) < monday for w in weeks)
    assert all(date.fromisoformat(w).weekday() == 0 for w in weeks)
    start = date.fromisoformat(report_json(site)["period"]["from"])
    assert all(date.fromisoformat(w) >= start for w in weeks)


def test_latency_only_for_modes_with_k_installs(site: Path) -> None:
    latency = report_json(site)["latency_ms"]
    assert {r["mode"] for r in latency} <= {"simulation", "hardware"}
    assert latency and all(len(f"{r['p50_ms']:g}".replace(".", "").strip("0")) <= 2 for r in latency)


def test_the_same_data_published_twice_gives_the_same_report(publish: Publish, duck_file: Path,
                                                              tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("ab" * 32 + "\n")
    for out in ("a", "b"):
        assert publish("--db", str(duck_file), "--out", str(tmp_path / out), "--key-file", str(key)).exit_code == 0
    assert output_text(tmp_path / "a") == output_text(tmp_path / "b")


def test_a_3_install_cell_cannot_be_recovered_by_subtracting_published_figures(duck_file: Path, today: date) -> None:
    """Windows has 3 installs (suppressed). With exact figures, installs - Linux - Darwin = 3 would give it away.
    With the noise, that difference is 3 only by chance, and publishing again gives the same figures (so no
    averaging): over many keys (many publishers), the estimate is exact in a minority of reports."""
    aggregates = exact_aggregates(duck_file, today)
    assert aggregates.tables["os"]["Windows"] == 3
    assert aggregates.installs - aggregates.tables["os"]["Linux"] - aggregates.tables["os"]["Darwin"] == 3

    def estimate(seed: str) -> int | None:
        report = render.build(aggregates, Disclosure(10, 1.0, key_from_seed(seed), "p"))
        assert report == render.build(aggregates, Disclosure(10, 1.0, key_from_seed(seed), "p"))
        if report["installs"] is None:
            return None
        return int(report["installs"]) - sum(r["installs"] for r in report["tables"]["os"])

    estimates = [estimate(f"publisher {i}") for i in range(300)]
    exact = sum(e == 3 for e in estimates)
    assert exact < 0.4 * len(estimates), exact  # measured: about 0.25 (three noises summing to 0)
    assert len(set(estimates)) > 5


def test_epsilon_absent_means_the_default_epsilon_not_exact_counts(publish: Publish, duck_file: Path,
                                                                   tmp_path: Path, fleet: Any) -> None:
    assert publish("--db", str(duck_file), "--out", str(tmp_path / "s"), "--seed", "e").exit_code == 0
    report = report_json(tmp_path / "s")
    assert report["epsilon"] == 1.0
    exact = fleet[1].tables
    assert any(r["installs"] != exact[t][r["value"]] for t, rows in report["tables"].items() for r in rows)


def test_the_default_key_is_made_once_private_and_reused(publish: Publish, duck_file: Path, tmp_path: Path) -> None:
    first = publish("--db", str(duck_file), "--out", str(tmp_path / "a"))
    assert first.exit_code == 0 and "new secret noise key" in first.stderr
    key = tmp_path / "telemetry-config" / "publish.key"
    assert key.stat().st_mode & 0o777 == 0o600
    second = publish("--db", str(duck_file), "--out", str(tmp_path / "b"))
    assert second.exit_code == 0 and "new secret noise key" not in second.stderr
    assert report_json(tmp_path / "a") == report_json(tmp_path / "b")
    assert report_json(tmp_path / "a")["noise"] == "keyed"
    assert "not for publication" not in (tmp_path / "a" / "index.html").read_text()


def test_a_seeded_report_says_it_must_not_be_published(site: Path) -> None:
    assert report_json(site)["noise"] == "seeded (not for publication)"
    assert "Test report, not for publication" in (site / "index.html").read_text()


def test_force_replaces_a_previous_report(publish: Publish, duck_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    assert publish("--db", str(duck_file), "--out", str(out), "--seed", "1").exit_code == 0
    (out / "stale.txt").write_text("from before")
    assert publish("--db", str(duck_file), "--out", str(out), "--seed", "1", "--force").exit_code == 0
    assert not (out / "stale.txt").exists() and (out / "report.json").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def _bad(result: Any) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return str(lines[0])


@pytest.mark.parametrize(("args", "message"), [
    (["--k", "1"], "k must be at least 2"),
    (["--k", "-5"], "k must be at least 2"),
    (["--epsilon", "0"], "epsilon must be above 0"),
    (["--epsilon", "-1"], "epsilon must be above 0"),
    (["--epsilon", "nan"], "epsilon must be above 0"),
    (["--epsilon", "50"], "at most 5"),
    (["--seed", "x", "--key-file", "k"], "exclude each other"),
])
def test_bad_rules_are_one_line_and_exit_2_and_write_nothing(publish: Publish, duck_file: Path, tmp_path: Path,
                                                            args: list[str], message: str) -> None:
    assert message in _bad(publish("--db", str(duck_file), "--out", str(tmp_path / "site"), *args))
    assert not (tmp_path / "site").exists()


def test_a_non_empty_directory_is_kept_without_force_and_even_with_it_when_not_a_report(
        publish: Publish, duck_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert "--force" in _bad(publish("--db", str(duck_file), "--out", str(out), "--seed", "1"))
    assert "refusing" in _bad(publish("--db", str(duck_file), "--out", str(out), "--seed", "1", "--force"))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_missing_db_file_is_refused_not_created(publish: Publish, tmp_path: Path) -> None:
    assert "no DuckDB file" in _bad(publish("--db", str(tmp_path / "nope.duckdb"), "--out", str(tmp_path / "s")))
    assert not (tmp_path / "nope.duckdb").exists() and not (tmp_path / "s").exists()


def test_a_db_file_held_by_a_running_collector_is_one_line_and_exit_2(
        publish: Publish, duck_file: Path, tmp_path: Path,
        duckdb_held_elsewhere: Callable[[Path], AbstractContextManager[None]]) -> None:
    with duckdb_held_elsewhere(duck_file):
        line = _bad(publish("--db", str(duck_file), "--out", str(tmp_path / "s"), "--seed", "1"))
    assert "owned by one process" in line or "lock" in line
    assert not (tmp_path / "s").exists()


def test_a_collector_that_cannot_be_reached_is_one_line_and_exit_2(publish: Publish, tmp_path: Path) -> None:
    line = _bad(publish("--url", "http://127.0.0.1:9", "--out", str(tmp_path / "s"), "--timeout", "5"))
    assert "cannot reach the collector" in line
    assert not (tmp_path / "s").exists()


def test_the_exact_aggregates_are_the_fleets_true_figures(duck_file: Path, fleet: Any, today: date) -> None:
    """CI installs, installs seen only today and events of the week still going on are not counted."""
    expected: dataset.Expected = fleet[1]
    aggregates = exact_aggregates(duck_file, today)
    assert aggregates.installs == expected.installs
    assert aggregates.tables == expected.tables
    monday = today - timedelta(days=today.weekday())
    active = {(today - timedelta(days=7 * w + 2)) for w in range(dataset.WEEKS)}
    weeks = {(d - timedelta(days=d.weekday())).isoformat() for d in active if d < monday}
    servers = sum(n for n, *_, ci, only_today in dataset.SERVERS if not ci and not only_today)
    assert aggregates.weekly == {w: servers + dataset.NAMED_CLIENTS[0] for w in weeks if w >= str(
        figures.period(90, today)[0])}


def test_a_period_ending_today_or_later_is_refused(publish: Publish, duck_file: Path, tmp_path: Path,
                                                   today: date) -> None:
    for until in (today, today + timedelta(days=3)):
        line = _bad(publish("--db", str(duck_file), "--out", str(tmp_path / "s"), "--until", until.isoformat()))
        assert "before today" in line
    assert not (tmp_path / "s").exists()


def test_an_older_period_is_published_with_until(publish: Publish, duck_file: Path, tmp_path: Path,
                                                 today: date) -> None:
    until = today - timedelta(days=10)
    result = publish("--db", str(duck_file), "--out", str(tmp_path / "s"), "--until", until.isoformat(),
                     "--days", "30", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert report_json(tmp_path / "s")["period"] == {"from": (until - timedelta(days=29)).isoformat(),
                                                     "to": until.isoformat()}


def test_platform_spellings_stored_before_normalisation_count_as_one_value() -> None:
    aggregates = figures.Aggregates(date(2026, 1, 1), date(2026, 1, 31), installs=30,
                                    tables={t: {} for t in figures.TABLES})
    aggregates.tables["arch"] = {"aarch64": 6, "arm64": 5, "x86_64": 19}
    report = render.build(aggregates, Disclosure(10, 5.0, key_from_seed("a"), "p"))
    assert {r["value"] for r in report["tables"]["arch"]} == {"arm64", "x86_64"}  # 6 + 5 installs pass k = 10
    assert "aarch64" not in str(report)
