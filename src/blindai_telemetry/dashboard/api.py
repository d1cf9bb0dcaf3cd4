"""The query API (`GET /api/v1/...`) and the dashboard page, mounted by the collector app.

Every panel of the page has its endpoint here, answering `{"panel", "title", "description", "filters",
"columns", "rows"}` as JSON (time series also `"partial_periods"`, see `periods`), or the same table as CSV
with `?format=csv`. All of them are open on loopback and need the admin token beyond it (`require_viewer`).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask

from blindai_telemetry.dashboard import export, queries
from blindai_telemetry.dashboard.filters import MAX_WINDOW_DAYS, NAME_PATTERN, Filters, Granularity, Mode
from blindai_telemetry.dashboard.periods import partial_periods
from blindai_telemetry.dashboard.queries import PANELS, NoSQLError, PerformanceBy, Table
from blindai_telemetry.service.auth import require_viewer
from blindai_telemetry.stores.base import Store, StoreError

STATIC_DIR = Path(__file__).parent / "static"

router = APIRouter()
_viewer = [Depends(require_viewer)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "Admin token required (the collector listens beyond loopback)"},
    422: {"description": "A query parameter is invalid"},
    501: {"description": "The store has no SQL (in-memory store): only /api/v1/summary works"},
    503: {"description": "The store is unavailable"},
}


def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


def filters(
    start: Annotated[date | None, Query(alias="from", description="First day (UTC), inclusive")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day (UTC), inclusive")] = None,
    app: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only events of this app")] = None,
    app_version: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only this app version")] = None,
    mode: Annotated[Mode | None, Query(description="Only events of servers in this mode")] = None,
    include_ci: Annotated[bool, Query(description="Include events tagged as CI runs")] = False,
    granularity: Annotated[Granularity, Query(description="Period of time series")] = "day",
    window_days: Annotated[int, Query(ge=1, le=MAX_WINDOW_DAYS, description="Funnel window, in days")] = 7,
) -> Filters:
    """The filters every panel takes, from the query string (FastAPI answers 422 for malformed values)."""
    try:
        return Filters(start, end, app, app_version, mode, include_ci, granularity, window_days)
    except ValueError as exc:  # the checks that span several parameters (from after to)
        raise HTTPException(status_code=422, detail=str(exc)) from None


FiltersDep = Annotated[Filters, Depends(filters)]
Format = Annotated[Literal["json", "csv"], Query(description="json (default) or csv")]


@router.get("/api/v1/summary", dependencies=_viewer, tags=["dashboard"], responses=_ERRORS,
            summary="Totals over all stored data (CI included)")
def summary(request: Request) -> dict[str, Any]:
    """`{"events": N, "installs": M, "seeded": S, ...}` over all stored data, CI runs included.

    `seeded` counts the synthetic history the demo writes, so the page can say the figures include it;
    `retention_days` is the collector's retention period, which the page states; `panels` says whether the
    store answers the panels' SQL (the in-memory store does not).
    """
    store = _store(request)
    try:
        out = queries.summary(store)
    except StoreError as exc:
        raise HTTPException(status_code=503, detail=f"store unavailable: {exc}") from None
    settings = getattr(request.app.state, "settings", None)
    out["retention_days"] = getattr(settings, "retention_days", None)
    out["panels"] = store.dialect is not None
    return {k: queries.plain(v) for k, v in out.items()}


@router.get("/api/v1/panels", dependencies=_viewer, tags=["dashboard"], summary="The panels and what they show")
def panel_list() -> list[dict[str, str]]:
    """Every panel's id, title, one-sentence description and endpoint."""
    return [{"id": p.id, "title": p.title, "description": p.description, "endpoint": f"/api/v1/{p.id}"}
            for p in PANELS.values()]


@router.get("/api/v1/options", dependencies=_viewer, tags=["dashboard"], responses=_ERRORS,
            summary="What the filters can choose from")
def filter_options(request: Request) -> dict[str, Any]:
    """Apps, versions and modes present in the store, the first and last day of data, and of seeded data."""
    store = _store(request)
    options: dict[str, Any] = _guarded(lambda: {**queries.options(store), **queries.seeded_days(store)})
    return options


def _guarded(run: Any) -> Any:
    try:
        return run()
    except NoSQLError as exc:
        raise HTTPException(status_code=501, detail=str(exc)) from None
    except StoreError as exc:
        raise HTTPException(status_code=503, detail=f"store unavailable: {exc}") from None


def _answer(panel_id: str, f: Filters, table: Table, fmt: str, series: bool = True, **extra: Any) -> Response:
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(table.columns)
        writer.writerows(table.rows)
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{panel_id}.csv"'})
    panel = PANELS[panel_id]
    body = {"panel": panel.id, "title": panel.title, "description": panel.description,
            "filters": {**f.as_dict(), **extra}, "columns": table.columns, "rows": table.rows}
    if panel.time_series:
        # The current (and any range-cut) period is drawn and printed as partial, not read as a drop.
        body["partial_periods"] = partial_periods(f) if series else []
    return JSONResponse(body)


def _route(panel_id: str) -> Any:
    """A GET endpoint for a panel that takes only the common filters."""
    panel = PANELS[panel_id]

    def endpoint(request: Request, f: FiltersDep, format: Format = "json") -> Response:
        table = _guarded(lambda: panel.query(_store(request), f))
        return _answer(panel_id, f, table, format)

    endpoint.__name__ = f"panel_{panel_id}"
    endpoint.__doc__ = panel.description
    router.add_api_route(f"/api/v1/{panel_id}", endpoint, methods=["GET"], dependencies=_viewer,
                         tags=["dashboard"], summary=panel.title, responses=_ERRORS,
                         response_description="`{panel, title, description, filters, columns, rows}`, or CSV")
    return endpoint


for _id in PANELS:
    if _id != "performance":
        _route(_id)


@router.get("/api/v1/performance", dependencies=_viewer, tags=["dashboard"], responses=_ERRORS,
            summary=PANELS["performance"].title)
def panel_performance(request: Request, f: FiltersDep, format: Format = "json",
                      by: Annotated[PerformanceBy, Query(description="Group by period, version or mode")] = "time",
                      ) -> Response:
    """p50 / p95 / p99 of duration_ms of successful uploads and runs, over time, by version or by mode."""
    table = _guarded(lambda: queries.performance(_store(request), f, by))
    return _answer("performance", f, table, format, series=by == "time", by=by)


# --- export ------------------------------------------------------------------------------------------------


@router.get("/api/v1/export", dependencies=_viewer, tags=["dashboard"], responses=_ERRORS,
            summary="The events table as Parquet or CSV (blindai-telemetry export --url)",
            response_class=FileResponse)
def export_events(
    request: Request,
    format: Annotated[export.Format, Query(description="parquet (default) or csv")] = "parquet",
    start: Annotated[date | None, Query(alias="from", description="First day (UTC), inclusive")] = None,
    end: Annotated[date | None, Query(alias="to", description="Last day (UTC), inclusive")] = None,
    app: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only events of this app")] = None,
) -> FileResponse:
    """Every stored event of the range (CI included), oldest first: for backups of a store a running collector
    holds. Written to a temporary file first (batch by batch: memory stays small), then sent and removed."""
    try:
        Filters(start=start, end=end, app=app)  # days a store can hold, from not after to
    except ValueError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    fd, name = tempfile.mkstemp(prefix="blindai-export-", suffix=f".{format}")
    os.close(fd)
    path = Path(name)
    try:
        _guarded(lambda: export.export(_store(request), path, format, start, end, app))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(path, media_type=export.MEDIA_TYPES[format], filename=f"events.{format}",
                        background=BackgroundTask(path.unlink, missing_ok=True))


# --- the page ------------------------------------------------------------------------------------------------


@router.get("/", include_in_schema=False, dependencies=[])
def page() -> FileResponse:
    # The page itself holds no data: it is served without a token, and reads the token for the API calls.
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8")


# The page's script, styles and the bundled chart library: shipped with the package, never from a CDN.
router.mount("/static", StaticFiles(directory=STATIC_DIR), name="dashboard-static")
