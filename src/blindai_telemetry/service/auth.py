"""Access control: the admin token for operators and viewers (`blindai-telemetry serve --help`), and the
constant-time comparison ingestion's write keys use too.

Shared by the collector's routes and the dashboard's, so it lives below both. It reads the app's settings
(`request.app.state.settings`) through `AccessSettings`, the field it needs, not the collector's class.
"""

from __future__ import annotations

import hmac
from typing import Protocol

from fastapi import HTTPException, Request


class AccessSettings(Protocol):
    """What access control reads of the app's settings (`collector.settings.CollectorSettings` has both)."""

    @property
    def admin_token(self) -> str | None: ...


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


def matches(token: str | None, expected: str) -> bool:
    """Whether `token` is the secret `expected`, in constant time: timing must not reveal a secret's prefix."""
    return token is not None and hmac.compare_digest(token.encode(), expected.encode())


#: Headers a reverse proxy adds. Their values are never read (they carry the sender's address); their presence
#: alone says the request did not come from a local operator, even though it reached us from 127.0.0.1.
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "x-forwarded-host", "x-forwarded-proto")

_PROXIED = "this request came through a reverse proxy: start the collector with --admin-token and send it " \
           "(Authorization: Bearer <token>)"


def came_through_proxy(request: Request) -> bool:
    """True when a reverse proxy forwarded the request (loopback is then no proof of a local operator)."""
    return any(name in request.headers for name in PROXY_HEADERS)


def is_operator(request: Request) -> bool:
    """The admin token when one is configured; else a local caller, which a proxied request is not."""
    settings: AccessSettings = request.app.state.settings
    if settings.admin_token is not None:
        return is_admin(request)
    return not came_through_proxy(request)


def is_admin(request: Request) -> bool:
    """True when the request carries the admin token."""
    settings: AccessSettings = request.app.state.settings
    return settings.admin_token is not None and matches(bearer_token(request), settings.admin_token)


def require_admin(request: Request) -> None:
    """FastAPI dependency for operator endpoints (deletion by id list).

    Always needs the admin token when one is configured; with no token configured the server listens on
    loopback only (the `serve` command refuses otherwise), and local operators are trusted — but not a request
    a reverse proxy on the same machine forwarded, which may come from anywhere.
    """
    _refuse_unless_operator(request)


def require_viewer(request: Request) -> None:
    """FastAPI dependency for the query API and the dashboard's data.

    With an admin token configured, always the token: a collector on loopback behind a reverse proxy on the same
    machine sees every request come from 127.0.0.1, so loopback proves nothing once an operator has set a token
    (the deployment guide's setup). Without one (only allowed on loopback), local callers are trusted — but not
    a request carrying a proxy's forwarding headers, refused with a message saying to configure the token.
    """
    _refuse_unless_operator(request)


def _refuse_unless_operator(request: Request) -> None:
    """401, saying what is missing: the token, or (proxied, with none configured) that one must be configured."""
    settings: AccessSettings = request.app.state.settings
    if is_operator(request):
        return
    detail = "admin token required (Authorization: Bearer <token>)" if settings.admin_token else _PROXIED
    raise HTTPException(status_code=401, detail=detail)
