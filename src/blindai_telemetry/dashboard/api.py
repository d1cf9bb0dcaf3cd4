"""The query API (`GET /api/v1/...`) and the dashboard page, mounted by the collector app."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
