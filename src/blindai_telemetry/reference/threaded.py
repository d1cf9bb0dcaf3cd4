"""Serve an ASGI app with uvicorn on a background thread: how the demo and the end-to-end tests run servers.

The socket is bound before the thread starts, so port 0 gives a free port that is known at once and cannot be
taken by someone else in between. uvicorn installs no signal handlers off the main thread, so Ctrl-C stays
with the caller, which stops each server with `stop()` (a graceful shutdown that runs the app's lifespan end).
"""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn


class ThreadedServer:
    """One uvicorn server on `host:port` in a daemon thread. No access log and no proxy headers: nothing
    that carries a client address is logged or trusted."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        """`options` are more `uvicorn.Config` options (the demo's collector takes the collector's limits)."""
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP; without it, Nagle
        # and delayed ACKs add ~40 ms to every keep-alive request after the first.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", access_log=False, proxy_headers=False,
                                server_header=False, date_header=False, lifespan="on", **options)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ThreadedServer:
        """Start serving; returns once the app's lifespan start-up has run. Raises RuntimeError if it did not
        within `timeout` (the thread is then asked to stop)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop(timeout=5.0)
                raise RuntimeError(f"the server on port {self.port} did not start")
            time.sleep(0.01)  # polling a flag uvicorn sets; bounded by the deadline above
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Shut down gracefully (open requests finish, the lifespan end runs); True if done within `timeout`."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._socket.close()
        return not self._thread.is_alive()

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
