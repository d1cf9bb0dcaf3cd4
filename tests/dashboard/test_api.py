"""The query API over a real DuckDB file and a live server: exact figures against Python reference answers."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from blindai_telemetry.stores.durations import RELATIVE_ERROR
from blindai_telemetry.stores.platform_names import normalise

from . import dataset
from .conftest import START, LiveServer

Rows = list[dict[str, Any]]
Get = Callable[..., Any]


def test_summary_counts_every_event_and_install_including_ci_and_seeded(get: Get, fleet_rows: Rows) -> None:
    body = get("/api/v1/summary")
    assert body["events"] == len(fleet_rows)
    assert body["installs"] == len({r["install_id"] for r in fleet_rows})
    assert body["seeded"] == sum(1 for r in fleet_rows if r["source"] == "seed") > 0
    assert body["retention_days"] == 3650
    assert body["panels"] is True


def test_active_installs_per_day_counts_servers_and_clients_apart(get: Get, fleet_rows: Rows) -> None:
    body = get("/api/v1/active_installs")
    got = {period: (s, c) for period, s, c in body["rows"]}
    assert body["columns"] == ["period", "servers", "clients"]
    assert got == dataset.daily_installs(dataset.visible(fleet_rows))


def test_active_installs_per_week_and_month(get: Get, fleet_rows: Rows) -> None:
    rows = dataset.visible(fleet_rows)
    servers = {r["install_id"] for r in rows if r.get("mode")}
    clients = {r["install_id"] for r in rows if not r.get("mode")} | {
        r["client_install_id"] for r in rows if r.get("client_install_id")}
    # The fleet spans January 5 (a Monday) to 31: one month, four weeks.
    month = get("/api/v1/active_installs", granularity="month")["rows"]
    assert month == [["2026-01-01", len(servers), len(clients)]]
    weeks = get("/api/v1/active_installs", granularity="week")["rows"]
    assert [w[0] for w in weeks] == ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    week_one = [r for r in rows if dataset.day_of(r["time"]) < START.replace(day=12)]
    assert weeks[0][1:] == [len({r["install_id"] for r in week_one if r.get("mode")}),
                            len({r["install_id"] for r in week_one if not r.get("mode")}
                                | {r["client_install_id"] for r in week_one if r.get("client_install_id")})]


def test_events_over_time_by_type(get: Get, fleet_rows: Rows) -> None:
    body = get("/api/v1/events")
    assert {(p, e): n for p, e, n in body["rows"]} == dataset.event_counts(dataset.visible(fleet_rows))


def test_ci_events_are_hidden_by_default_and_shown_on_request(get: Get, fleet_rows: Rows) -> None:
    ci = sum(1 for r in fleet_rows if r.get("is_ci"))
    assert ci > 0
    hidden = sum(n for *_, n in get("/api/v1/events")["rows"])
    shown = sum(n for *_, n in get("/api/v1/events", include_ci="true")["rows"])
    assert (hidden, shown) == (len(fleet_rows) - ci, len(fleet_rows))


def test_modes_share_of_servers_per_week(get: Get, fleet_rows: Rows) -> None:
    per: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in dataset.visible(fleet_rows):
        if r.get("mode"):
            day = dataset.day_of(r["time"])
            monday = day.fromordinal(day.toordinal() - day.weekday()).isoformat()
            per[(monday, r["mode"])].add(r["install_id"])
    body = get("/api/v1/modes", granularity="week")
    assert {(p, m): n for p, m, n, _ in body["rows"]} == {k: len(v) for k, v in per.items()}
    for period in {p for p, *_ in body["rows"]}:
        shares = [s for p, _, _, s in body["rows"] if p == period]
        assert sum(shares) == pytest.approx(1.0, abs=1e-3)


def test_filters_restrict_every_panel(get: Get, fleet_rows: Rows) -> None:
    only = dataset.visible(fleet_rows, mode="dcsv3")
    body = get("/api/v1/events", mode="dcsv3")
    assert sum(n for *_, n in body["rows"]) == len(only)
    assert body["filters"]["mode"] == "dcsv3"
    versioned = dataset.visible(fleet_rows, app_version="0.6.2", app="blindai-server")
    body = get("/api/v1/events", app="blindai-server", app_version="0.6.2")
    assert sum(n for *_, n in body["rows"]) == len(versioned)
    # An inclusive day range: the second week only.
    week2 = [r for r in dataset.visible(fleet_rows)
             if "2026-01-12" <= dataset.day_of(r["time"]).isoformat() <= "2026-01-18"]
    body = get("/api/v1/events", **{"from": "2026-01-12", "to": "2026-01-18"})
    assert sum(n for *_, n in body["rows"]) == len(week2)


def _quantiles(values: list[float]) -> list[float]:
    # statistics' "inclusive" method is the same linear interpolation as DuckDB's quantile_cont.
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return [round(cuts[49], 3), round(cuts[94], 3), round(cuts[98], 3)]


def test_performance_quantiles_by_mode_match_statistics(get: Get, fleet_rows: Rows) -> None:
    durations: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in dataset.visible(fleet_rows):
        if r["event"] in ("model_uploaded", "model_run") and r.get("ok", True):
            durations[(r["mode"], r["event"])].append(r["duration_ms"])
    body = get("/api/v1/performance", by="mode")
    assert body["columns"] == ["mode", "event", "requests", "p50_ms", "p95_ms", "p99_ms"]
    got = {(m, e): (n, [p50, p95, p99]) for m, e, n, p50, p95, p99 in body["rows"]}
    assert set(got) == set(durations)
    for key, values in durations.items():
        assert got[key][0] == len(values)
        # From a histogram of the durations (stores.durations): within its documented relative error.
        assert got[key][1] == pytest.approx(_quantiles(values), rel=RELATIVE_ERROR, abs=1e-3)


def test_performance_by_version_and_over_time_cover_the_same_requests(get: Get, fleet_rows: Rows) -> None:
    n = sum(1 for r in dataset.visible(fleet_rows)
            if r["event"] in ("model_uploaded", "model_run") and r.get("ok", True))
    by_version = get("/api/v1/performance", by="version")["rows"]
    by_time = get("/api/v1/performance", by="time", granularity="week")["rows"]
    assert sum(r[2] for r in by_version) == sum(r[2] for r in by_time) == n
    assert {r[0] for r in by_version} == {"0.6.2", "0.6.3"}


def test_model_sizes_histogram_in_power_of_two_buckets(get: Get, fleet_rows: Rows) -> None:
    sizes = [r["model_size_bytes"] for r in dataset.visible(fleet_rows) if r["event"] == "model_uploaded"]
    body = get("/api/v1/model_sizes")
    assert sum(row[3] for row in body["rows"]) == len(sizes)
    for lo, hi, _, n in body["rows"]:
        assert n == sum(1 for s in sizes if lo <= s < hi)
    labels = [row[2] for row in body["rows"]]
    assert labels[0] == "2 MiB–4 MiB" and labels[-1] == "512 MiB–1 GiB"


def test_uptime_distribution_counts_each_stopped_server_process_once(get: Get, fleet_rows: Rows) -> None:
    stopped = [r["uptime_s"] for r in dataset.visible(fleet_rows) if r["event"] == "server_stopped"]
    body = get("/api/v1/uptime")
    assert body["columns"] == ["bucket", "processes"]
    limits = [60, 600, 3600, 21600, 86400, 604800, float("inf")]
    want = [0] * len(limits)
    for up in stopped:
        want[next(i for i, lim in enumerate(limits) if up < lim)] += 1
    assert [n for _, n in body["rows"]] == want
    assert sum(want) == len(stopped) > 5


def test_hardware_counts_installs_per_cpu_count_and_memory(get: Get, fleet_rows: Rows) -> None:
    cpus: dict[int, set[str]] = defaultdict(set)
    for r in dataset.visible(fleet_rows):
        if r.get("cpu_count"):
            cpus[r["cpu_count"]].add(r["install_id"])
    rows = get("/api/v1/hardware")["rows"]
    assert {v: n for k, v, n in rows if k == "cpu_count"} == {k: len(v) for k, v in cpus.items()}
    assert {v for k, v, _ in rows if k == "memory_gb"} <= {8, 16, 32}


def test_platforms_count_installs_and_client_user_agents(get: Get, fleet_rows: Rows) -> None:
    rows = dataset.visible(fleet_rows)
    got = {(k, v): n for k, v, n in get("/api/v1/platforms")["rows"]}
    own = {r["install_id"]: normalise("arch", r["arch"]) for r in rows if r.get("arch")}  # one arch each here
    assert got[("arch", "arm64")] == sum(1 for a in own.values() if a == "arm64") > 0
    # One name per architecture and OS, whatever each platform called it (AMD64, amd64, aarch64, linux...).
    assert {v for k, v in got if k in ("arch", "client_arch")} == {"x86_64", "arm64"}
    assert {v for k, v in got if k in ("os", "client_os")} == {"Linux", "Darwin", "Windows"}
    assert got[("arch", "x86_64")] == sum(1 for a in own.values() if a == "x86_64")
    assert {"AMD64", "amd64", "aarch64", "x86_64"} <= {r.get("arch") for r in rows}
    clients = {r["client_install_id"]: normalise("client_arch", r["client_arch"]) for r in rows
               if r.get("client_install_id")}
    assert got[("client_arch", "x86_64")] == sum(1 for a in clients.values() if a == "x86_64")
    assert got[("client_user_agent", "blindai-python")] == len(
        {r["client_install_id"] for r in rows if r.get("client_install_id")})


def test_versions_per_week_split_servers_and_clients(get: Get, fleet_rows: Rows) -> None:
    rows = get("/api/v1/versions", granularity="month")["rows"]
    vis = dataset.visible(fleet_rows)
    servers_062 = {r["install_id"] for r in vis if r.get("mode") and r["app_version"] == "0.6.2"}
    clients_063 = {r["install_id"] for r in vis if not r.get("mode") and r["app_version"] == "0.6.3"} | {
        r["client_install_id"] for r in vis if r.get("client_app_version") == "0.6.3"}
    got = {(k, v): n for _, k, v, n in rows}
    assert got[("server", "0.6.2")] == len(servers_062)
    assert got[("client", "0.6.3")] == len(clients_063)


def test_panel_csv_export_equals_its_json(live: LiveServer, get: Get) -> None:
    body = get("/api/v1/events")
    response = httpx.get(f"{live.url}/api/v1/events", params={"format": "csv"})
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="events.csv"' in response.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(response.text)))
    assert table[0] == body["columns"]
    assert table[1:] == [[str(v) for v in row] for row in body["rows"]]


@pytest.mark.parametrize("query", [
    {"from": "yesterday"}, {"from": "2026-01-10", "to": "2026-01-01"}, {"mode": "quantum"},
    {"app": "x' OR 1=1 --"}, {"granularity": "hour"}, {"window_days": "0"}, {"include_ci": "maybe"},
    {"format": "xml"}, {"to": "9999-12-31"}, {"from": "0001-01-01"}, {"window_days": "91"},
])
def test_bad_parameters_are_refused_with_422_json(live: LiveServer, query: dict[str, str]) -> None:
    response = httpx.get(f"{live.url}/api/v1/events", params=query)
    assert response.status_code == 422
    assert "detail" in response.json()


def test_every_panel_is_in_the_openapi_description_with_its_filters(live: LiveServer, get: Get) -> None:
    spec = get("/openapi.json")
    for panel in get("/api/v1/panels"):
        params = {p["name"] for p in spec["paths"][panel["endpoint"]]["get"]["parameters"]}
        assert {"from", "to", "app", "app_version", "mode", "include_ci", "format"} <= params
    assert "/api/v1/summary" in spec["paths"]
    assert "by" in {p["name"] for p in spec["paths"]["/api/v1/performance"]["get"]["parameters"]}


def test_the_in_memory_store_answers_the_summary_and_501_for_panels(fleet_rows: Rows) -> None:
    from blindai_telemetry.stores import InMemoryStore

    from .conftest import build_app

    store = InMemoryStore()
    store.write(fleet_rows)
    server = LiveServer(build_app(store))
    try:
        body = httpx.get(f"{server.url}/api/v1/summary").json()
        assert (body["events"], body["installs"], body["panels"]) == (
            len(fleet_rows), len({r["install_id"] for r in fleet_rows}), False)
        assert body["seeded"] == sum(1 for r in fleet_rows if r["source"] == "seed")
        response = httpx.get(f"{server.url}/api/v1/events")
        assert response.status_code == 501
        assert "has no SQL" in response.json()["detail"]
    finally:
        server.stop()


def test_beyond_loopback_the_api_needs_the_admin_token(duck: Any) -> None:
    from blindai_telemetry.collector.settings import CollectorSettings

    from .conftest import build_app

    server = LiveServer(build_app(duck, CollectorSettings(host="0.0.0.0", admin_token="t0ken", retention_days=3650)))
    try:
        assert httpx.get(f"{server.url}/api/v1/summary").status_code == 401
        assert httpx.get(f"{server.url}/api/v1/events", headers={"Authorization": "Bearer wrong"}).status_code == 401
        ok = httpx.get(f"{server.url}/api/v1/events", headers={"Authorization": "Bearer t0ken"})
        assert ok.status_code == 200 and ok.json()["rows"]
        assert httpx.get(f"{server.url}/").status_code == 200  # the page itself holds no data
    finally:
        server.stop()
