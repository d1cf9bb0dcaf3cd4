"""`blindai-telemetry report`: the dashboard's figures as tables in a terminal (for operators on ssh), or JSON.

It reads a store directly (`--db PATH` / `--store URL`, running the dashboard's own queries) or asks a running
collector's query API (`--url`, the default: a DuckDB file is owned by the collector that has it open).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import click

from blindai_telemetry.environment_variables import BLINDAI_TELEMETRY_ADMIN_TOKEN
from blindai_telemetry.privacy import CONTROL_CHARACTERS

DEFAULT_URL = "http://127.0.0.1:8787"

#: (panel, extra query parameters, section title) in the order the report prints them.
SECTIONS: tuple[tuple[str, dict[str, str], str], ...] = (
    ("active_installs", {}, "Active installs"),
    ("events", {}, "Events by type"),
    ("modes", {}, "Servers by mode"),
    ("versions", {}, "Version adoption"),
    ("platforms", {}, "Platforms"),
    ("performance", {"by": "mode"}, "Request performance by mode (ms)"),
    ("performance", {"by": "version"}, "Request performance by version (ms)"),
    ("funnel", {}, "Funnel"),
)

Fetch = Callable[[str, dict[str, str]], dict[str, Any]]


class ReportError(click.ClickException):
    exit_code = 1


def http_source(url: str, token: str | None, timeout: float) -> Fetch:
    """GET `/api/v1/<path>` of the collector at `url` as JSON (with the admin token); one-line `ReportError`s.

    `publish --url` reads its aggregates through it too."""
    base = url.rstrip("/")

    def fetch(path: str, params: dict[str, str]) -> dict[str, Any]:
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        request = urllib.request.Request(f"{base}/api/v1/{path}" + (f"?{query}" if query else ""))
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body: dict[str, Any] = json.load(response)
                return body
        except urllib.error.HTTPError as exc:
            with exc:  # closes the response it holds
                detail = exc.read().decode("utf-8", "replace")[:300]
            if exc.code == 401:
                raise ReportError(
                    f"{base} needs the admin token: set {BLINDAI_TELEMETRY_ADMIN_TOKEN} or pass --token") from None
            raise ReportError(f"{base}/api/v1/{path} answered {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ReportError(
                f"cannot reach the collector at {base} ({reason}). Is `blindai-telemetry serve` running there? "
                "Use --url for another address, or --db PATH to read a DuckDB file no collector has open."
            ) from None

    return fetch


def _store_source(db: str | None, store_url: str | None) -> tuple[Fetch, Callable[[], None]]:
    # Heavy imports here, not at the top: `blindai-telemetry status` must work with the SDK alone installed.
    from blindai_telemetry.dashboard import queries
    from blindai_telemetry.dashboard.filters import Filters
    from blindai_telemetry.dashboard.periods import partial_periods
    from blindai_telemetry.stores import StoreError, open_store

    try:
        store = open_store(db=db, url=store_url)
    except (StoreError, ValueError, ImportError) as exc:
        raise ReportError(str(exc)) from None

    def fetch(path: str, params: dict[str, str]) -> dict[str, Any]:
        if path == "summary":
            return queries.summary(store)
        date = datetime.strptime
        f = Filters(start=date(params["from"], "%Y-%m-%d").date(), end=date(params["to"], "%Y-%m-%d").date(),
                    app=params.get("app") or None, app_version=params.get("app_version") or None,
                    mode=params.get("mode") or None,  # type: ignore[arg-type]  # click checked the choice
                    include_ci=params.get("include_ci") == "true", granularity=params["granularity"],  # type: ignore[arg-type]
                    window_days=int(params["window_days"]))
        try:
            if path == "performance":
                table = queries.performance(store, f, params["by"])  # type: ignore[arg-type]
            else:
                table = queries.PANELS[path].query(store, f)
        except queries.NoSQLError as exc:
            raise ReportError(str(exc)) from None
        except StoreError as exc:
            raise ReportError(f"store error: {exc}") from None
        panel = queries.PANELS[path]
        body = {"panel": path, "title": panel.title, "description": panel.description,
                "columns": table.columns, "rows": table.rows}
        if panel.time_series:  # as the query API answers it
            body["partial_periods"] = partial_periods(f) if params.get("by", "time") == "time" else []
        return body

    return fetch, store.close


def _cell(value: Any, column: str) -> str:
    if value is None:
        return "–"
    if column in ("share", "of_previous") and isinstance(value, (int, float)):
        return f"{value * 100:.1f}%"
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return _inert(str(value))


def _inert(text: str) -> str:
    """A store written by another collector may hold control characters: never write them to the terminal."""
    return CONTROL_CHARACTERS.sub("\N{REPLACEMENT CHARACTER}", text)


def render(title: str, columns: list[str], rows: list[list[Any]], description: str = "") -> str:
    """A plain aligned table: numbers right-aligned, a rule under the header."""
    columns = [_inert(c) for c in columns]  # pivoted tables name columns after stored values (versions)
    cells = [[_cell(v, c) for v, c in zip(row, columns, strict=True)] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) and rows != []
               for i in range(len(columns))]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric, strict=True))

    out = [click.style(title, bold=True)]
    if description:
        out.append(description)
    if not rows:
        out.append("  (no events match)")
        return "\n".join(out)
    out += ["  " + line(columns).rstrip(), "  " + "  ".join("─" * w for w in widths)]
    out += ["  " + line(r).rstrip() for r in cells]
    return "\n".join(out)


def _totals(body: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Events by type over the whole range (the panel's per-period counts, summed)."""
    totals: dict[str, int] = {}
    for _, event, n in body["rows"]:
        totals[event] = totals.get(event, 0) + n
    return ["event", "events"], sorted(([e, n] for e, n in totals.items()), key=lambda r: -r[1])


def _pivot(body: dict[str, Any], series: Callable[[list[Any]], str], value: Callable[[list[Any]], Any],
           ) -> tuple[list[str], list[list[Any]]]:
    """Long rows (period, series..., value) as one row per period and one column per series."""
    names: list[str] = []
    table: dict[str, dict[str, Any]] = {}
    for row in body["rows"]:
        name = series(row)
        if name not in names:
            names.append(name)
        table.setdefault(row[0], {})[name] = value(row)
    names.sort()
    return ["period", *names], [[period, *(cells.get(n, 0) for n in names)] for period, cells in table.items()]


PARTIAL_MARK = " *"
PARTIAL_NOTE = "* partial period: not complete yet, or cut by the range (not a drop)."


def mark_partial(columns: list[str], rows: list[list[Any]], partial: list[str]) -> tuple[list[list[Any]], bool]:
    """Rows with each partial period's name marked, and whether any was: a reader must not take the
    current day, week or month for a drop in usage."""
    if not partial or not columns or columns[0] != "period":
        return rows, False
    marked = [[f"{r[0]}{PARTIAL_MARK}", *r[1:]] if r[0] in partial else r for r in rows]
    return marked, marked != rows


#: How the report lays out a panel's rows: as they are, summed over the range, or pivoted by period.
LAYOUTS: dict[str, Callable[[dict[str, Any]], tuple[list[str], list[list[Any]]]]] = {
    "events": _totals,
    "modes": lambda b: _pivot(b, lambda r: r[1], lambda r: f"{r[2]:,} ({(r[3] or 0) * 100:.0f}%)"),
    "versions": lambda b: _pivot(b, lambda r: f"{r[1]} {r[2]}", lambda r: r[3]),
}


@click.command("report")
@click.option("--db", type=click.Path(dir_okay=False), help="Read this DuckDB file (no collector may have it open).")
@click.option("--store", "store_url", metavar="URL", help="Read this store (clickhouse://…, chdb://…).")
@click.option("--url", metavar="URL", help=f"Ask this collector's query API (default {DEFAULT_URL}).")
@click.option("--token", envvar=BLINDAI_TELEMETRY_ADMIN_TOKEN,
              help=f"Admin token for --url (or ${BLINDAI_TELEMETRY_ADMIN_TOKEN}).")
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True, help="The last N days (UTC).")
@click.option("--granularity", type=click.Choice(["day", "week", "month"]), default="week", show_default=True)
@click.option("--app", help="Only events of this app.")
@click.option("--app-version", help="Only this app version.")
@click.option("--mode", type=click.Choice(["hardware", "simulation", "dcsv3"]), help="Only servers in this mode.")
@click.option("--include-ci", is_flag=True, help="Count events tagged as CI runs (excluded by default).")
@click.option("--window-days", type=click.IntRange(1, 90), default=7, show_default=True, help="Funnel window.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for --url.")
def report(db: str | None, store_url: str | None, url: str | None, token: str | None, days: int, granularity: str,
           app: str | None, app_version: str | None, mode: str | None, include_ci: bool, window_days: int,
           as_json: bool, timeout: float) -> None:
    """Print the dashboard's figures: installs, events, modes, versions, platforms, performance, funnel."""
    if sum(x is not None for x in (db, store_url, url)) > 1:
        raise click.UsageError("--db, --store and --url exclude each other")
    close: Callable[[], None] = lambda: None  # noqa: E731
    if db is not None or store_url is not None:
        fetch, close = _store_source(db, store_url)
        source = db or store_url
    else:
        url = url or DEFAULT_URL
        fetch, source = http_source(url, token, timeout), url
    today = datetime.now(timezone.utc).date()
    params = {"from": (today - timedelta(days=days - 1)).isoformat(), "to": today.isoformat(),
              "granularity": granularity, "app": app or "", "app_version": app_version or "", "mode": mode or "",
              "include_ci": "true" if include_ci else "false", "window_days": str(window_days)}
    try:
        summary = fetch("summary", {})
        panels = {(panel + (f"_by_{extra['by']}" if extra else "")): fetch(panel, {**params, **extra})
                  for panel, extra, _ in SECTIONS}
    finally:
        close()
    if as_json:
        click.echo(json.dumps({"source": source, "filters": params, "summary": summary,
                               "panels": {k: {"columns": v["columns"], "rows": v["rows"],
                                              **({"partial_periods": v["partial_periods"]}
                                                 if "partial_periods" in v else {})}
                                          for k, v in panels.items()}},
                              indent=2))
        return
    ci = "CI included" if include_ci else "CI excluded"
    click.echo(render(f"BlindAI telemetry — {source}", ["events stored", "installs", "seeded events"],
                      [[summary.get("events"), summary.get("installs"), summary.get("seeded", 0)]],
                      "All stored data, CI included."))
    click.echo(f"\nFigures below: {params['from']} to {params['to']} (UTC), per {granularity}, {ci}.")
    for (panel, extra, title), key in zip(SECTIONS, panels, strict=True):
        body = panels[key]
        columns, rows = LAYOUTS[panel](body) if panel in LAYOUTS else (body["columns"], body["rows"])
        description = "Events of each type over the range." if panel == "events" else body.get("description", "")
        rows, marked = mark_partial(columns, rows, body.get("partial_periods") or [])
        text = render(title, columns, rows, "" if extra.get("by") == "version" else description)
        click.echo("\n" + text + (f"\n  {PARTIAL_NOTE}" if marked else ""))
    if summary.get("seeded"):
        click.echo(f"\nNote: {summary['seeded']:,} stored events are seeded (synthetic demo history).")


COMMANDS: list[click.Command] = [report]
