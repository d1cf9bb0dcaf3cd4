"""`GET /api/v1/publish/aggregates`: the exact aggregates `publish --url` turns into a public report.

Distinct installs per value over a whole period cannot be summed from the dashboard's per-period panels, so
the collector computes them. The answer holds only counts and latency percentiles, never an id; it is exact,
so it is an operator endpoint (`require_admin`): the noise and suppression run in the publisher's process,
with the key only the publisher holds.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from blindai_telemetry.dashboard.filters import FIRST_DAY, LAST_DAY
from blindai_telemetry.publish import figures
from blindai_telemetry.service.auth import require_admin
from blindai_telemetry.stores.base import Store, StoreError

router = APIRouter()


@router.get("/api/v1/publish/aggregates", dependencies=[Depends(require_admin)], tags=["publish"],
            summary="Exact aggregates for the public usage report (operators only)",
            responses={401: {"description": "Admin token required"}, 422: {"description": "Invalid period"},
                       501: {"description": "The store has no SQL"}, 503: {"description": "Store unavailable"}})
def aggregates(request: Request,
               start: Annotated[date, Query(alias="from", description="First day (UTC), inclusive")],
               end: Annotated[date, Query(alias="to", description="Last day (UTC), inclusive")]) -> dict[str, Any]:
    """Distinct installs per version, mode, OS and architecture (each install under its last value), per
    complete week, and latency percentiles per mode with the number of installs behind them; CI excluded."""
    if not FIRST_DAY <= start <= end <= LAST_DAY:
        raise HTTPException(status_code=422, detail=f"need {FIRST_DAY} <= from <= to <= {LAST_DAY}")
    store: Store = request.app.state.store
    try:
        return figures.gather(store, start, end).as_dict()
    except ValueError as exc:
        raise HTTPException(status_code=501, detail=str(exc)) from None
    except StoreError as exc:
        raise HTTPException(status_code=503, detail=f"store unavailable: {exc}") from None
