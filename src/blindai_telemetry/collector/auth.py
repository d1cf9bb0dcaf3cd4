"""Access control: write keys for ingestion, the admin token for operators (DESIGN.md, "Collector HTTP")."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request

from blindai_telemetry.collector.settings import CollectorSettings


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


def _matches(token: str | None, expected: str) -> bool:
    # Constant-time comparison: the token is a secret and timing must not reveal its prefix.
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())


def is_admin(request: Request) -> bool:
    """True when the request carries the admin token."""
    settings: CollectorSettings = request.app.state.settings
    return settings.admin_token is not None and _matches(bearer_token(request), settings.admin_token)


def require_admin(request: Request) -> None:
    """FastAPI dependency for operator endpoints (deletion by id list).

    Always needs the admin token when one is configured; with no token configured the server listens on
    loopback only (the `serve` command refuses otherwise), and local operators are trusted.
    """
    settings: CollectorSettings = request.app.state.settings
    if settings.admin_token is None:
        return
    if not is_admin(request):
        raise HTTPException(status_code=401, detail="admin token required (Authorization: Bearer <token>)")


def require_viewer(request: Request) -> None:
    """FastAPI dependency for the query API: open on loopback, the admin token beyond it."""
    settings: CollectorSettings = request.app.state.settings
    if settings.loopback_only:
        return
    if not is_admin(request):
        raise HTTPException(status_code=401, detail="admin token required (Authorization: Bearer <token>)")


def check_write_key(request: Request) -> None:
    """FastAPI dependency for ingestion endpoints when write keys are configured."""
    settings: CollectorSettings = request.app.state.settings
    if not settings.write_keys:
        return
    token = bearer_token(request)
    if not any(_matches(token, key) for key in settings.write_keys):
        raise HTTPException(status_code=401, detail="write key required (Authorization: Bearer <key>)")
