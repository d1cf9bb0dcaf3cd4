"""Request logging without the client's address: method, path, status and duration only.

Uvicorn's access log is switched off (`serve` runs it with `access_log=False`) because it writes the client's
address; this ASGI middleware replaces it. It logs the path without the query string (which a sender could
fill with anything) and never looks at `scope["client"]` or forwarding headers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("blindai_telemetry.collector.requests")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = [0]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            if logger.isEnabledFor(logging.INFO):
                path: Any = scope.get("path", "")
                logger.info("%s %s %d %.1fms", scope.get("method", "?"), str(path)[:200], status[0],
                            (time.perf_counter() - started) * 1000)
