"""Funnel and weekly retention over a small hand-made history whose answers can be read off the scenario."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry.dashboard import queries
from blindai_telemetry.dashboard.filters import Filters
from blindai_telemetry.stores.base import Store

from .conftest import open_duckdb
from .dataset import _ms

MONDAY = date(2026, 3, 2)

#: install -> [(event, day offset from MONDAY)]; the comments give each install's fate with a 7-day window.
SCENARIO: dict[str, list[tuple[str, int]]] = {
    # started, uploaded a day later, ran the next day: the whole funnel. Seen again in weeks 1 and 2.
    "A": [("server_started", 0), ("model_uploaded", 1), ("model_run", 2), ("server_stopped", 8),
          ("server_stopped", 15)],
    # uploaded on day 10: outside a 7-day window, inside a 14-day one; seen in weeks 0 and 1.
    "B": [("server_started", 0), ("model_uploaded", 10)],
    # uploaded, never ran.
    "C": [("server_started", 0), ("model_uploaded", 3)],
    # ran on day 9: after a 7-day window closed, inside a 14-day one; seen in weeks 0 and 1.
    "D": [("server_started", 0), ("model_uploaded", 2), ("model_run", 9)],
    # never started in the range: not in the funnel; its own cohort (week of March 9), back in week 2.
    "E": [("model_run", 8), ("model_run", 22)],
    # ran BEFORE uploading and never after: uploaded, but not "then ran".
    "F": [("server_started", 1), ("model_run", 1), ("model_uploaded", 2)],
}


def _rows() -> list[dict[str, Any]]:
    rows = []
    for name, events in [*SCENARIO.items(), ("CI", [("server_started", 0), ("model_uploaded", 0),
                                                     ("model_run", 0)])]:
        for i, (event, day) in enumerate(events):
            ms = _ms(MONDAY + timedelta(days=day), 3600 + i)
            rows.append({"event_id": str(uuid.uuid4()), "event": event, "time": ms, "received_at": ms,
                         "install_id": f"install-{name}", "mode": "simulation", "app": "blindai-server",
                         "app_version": "0.6.3", "is_ci": name == "CI", "source": "native"})
    return rows


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    s = open_duckdb(Path(tmp_path_factory.mktemp("funnel")) / "funnel.duckdb")
    s.write(_rows())
    yield s
    s.close()


def test_funnel_counts_installs_that_started_then_uploaded_then_ran_within_7_days(store: Store) -> None:
    table = queries.funnel(store, Filters(window_days=7))
    assert table.columns == ["step", "installs", "share", "of_previous"]
    assert table.rows == [["started", 5, 1.0, 1.0], ["uploaded", 4, 0.8, 0.8], ["ran", 1, 0.2, 0.25]]


def test_a_wider_funnel_window_lets_later_steps_in(store: Store) -> None:
    table = queries.funnel(store, Filters(window_days=14))
    assert table.rows == [["started", 5, 1.0, 1.0], ["uploaded", 5, 1.0, 1.0], ["ran", 2, 0.4, 0.4]]


def test_funnel_includes_ci_installs_only_on_request(store: Store) -> None:
    table = queries.funnel(store, Filters(window_days=7, include_ci=True))
    assert [n for _, n, _, _ in table.rows] == [6, 5, 2]


def test_weekly_retention_cohorts(store: Store) -> None:
    table = queries.retention(store, Filters())
    assert table.columns == ["cohort", "week", "installs", "share"]
    assert table.rows == [
        ["2026-03-02", 0, 5, 1.0], ["2026-03-02", 1, 3, 0.6], ["2026-03-02", 2, 1, 0.2],
        ["2026-03-09", 0, 1, 1.0], ["2026-03-09", 2, 1, 1.0],
    ]


def test_retention_cohort_is_the_first_week_seen_in_the_range(store: Store) -> None:
    # From March 9 on, A, B and D are first seen in week 1: they form that week's cohort with E.
    table = queries.retention(store, Filters(start=date(2026, 3, 9)))
    assert table.rows[:2] == [["2026-03-09", 0, 4, 1.0], ["2026-03-09", 1, 1, 0.25]]
