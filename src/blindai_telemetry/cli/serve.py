"""`blindai-telemetry serve`: run the collector (uvicorn, one process that owns its DuckDB file).

FastAPI, uvicorn and the stores are imported inside the command, so the CLI works with the SDK alone.
Uvicorn runs without its access log and without proxy headers: both would write or trust client addresses,
and the collector never stores or logs one (the app logs requests itself, without the address).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import secrets
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from blindai_telemetry import environment_variables as ev

if TYPE_CHECKING:
    import uvicorn

    from blindai_telemetry.collector.settings import CollectorSettings

DEFAULT_DB = "./telemetry.duckdb"
#: Seconds uvicorn waits for requests in flight at SIGTERM: a batch waits at most for one group commit.
GRACEFUL_SHUTDOWN_TIMEOUT = 30


def _model_name_key(path: Path) -> bytes:
    """The collector's secret for hashing model names, made once and kept beside the store.

    A stable key keeps one install's hashed model names the same across restarts (so they can be counted);
    it never leaves this file, so the hashes cannot be reversed or linked by anyone without it.
    """
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(key.hex())
        return key
    except ValueError as exc:
        raise OSError(f"{path} does not hold a hex key") from exc


def _bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket here, so that `--port 0` works and the real port can be printed."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _server_class() -> type[uvicorn.Server]:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, but a SIGTERM or Ctrl-C ends with a clean exit once drained.

        uvicorn re-raises the signal after its graceful shutdown, which kills the process with that signal
        before the store is closed; here the signal only asks for the graceful shutdown.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server


@click.command("serve")
@click.option("--db", "db", metavar="PATH", default=None, help=f"DuckDB file to store into [default: {DEFAULT_DB}]")
@click.option("--store", "store_url", metavar="URL", default=None,
              help="Store URL instead of a DuckDB file, e.g. clickhouse://user:password@host:8123/db")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port, printed at start).")
@click.option("--admin-token", default=None, metavar="TOKEN", envvar=ev.BLINDAI_TELEMETRY_ADMIN_TOKEN,
              help="Token for operator endpoints (deletion by id list, query API, dashboard beyond loopback).")
@click.option("--write-key", "write_keys", multiple=True, metavar="KEY",
              help="Require this key on ingestion (Authorization: Bearer KEY, or api_key on /2/httpapi). Repeatable.")
@click.option("--retention-days", default=365, show_default=True, type=click.IntRange(min=0),
              help="Delete events older than this many days (at start, then hourly); 0 keeps them forever.")
@click.option("--forward-amplitude-key", default=None, metavar="KEY", envvar=ev.BLINDAI_TELEMETRY_FORWARD_AMPLITUDE_KEY,
              help="Also forward accepted events to Amplitude.")
@click.option("--forward-amplitude-url", default="https://api2.amplitude.com", show_default=True, metavar="URL")
@click.option("--forward-amplitude-secret-key", default=None, metavar="KEY",
              envvar=ev.BLINDAI_TELEMETRY_FORWARD_AMPLITUDE_SECRET_KEY,
              help="Amplitude secret key: deletions are then also sent to Amplitude's User Privacy API.")
@click.option("--forward-outbox", default=None, metavar="PATH",
              help="The forwarder's durable outbox (SQLite) [default: beside the DuckDB file].")
@click.option("--model-name-key-file", default=None, metavar="PATH",
              help="Secret for hashing model names old servers send in clear [default: beside the DuckDB file; "
                   "with --store, a new key per start].")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a connection may take to send a request's headers before it is closed.")
@click.option("--body-timeout", default=30.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Seconds a request may take to send its body before it is answered 408.")
@click.option("--max-pending-events", default=None, type=click.IntRange(min=1),
              help="Events waiting for the store beyond which senders are answered 503 with Retry-After "
                   "[default: 200000].")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
def serve(db: str | None, store_url: str | None, host: str, port: int, admin_token: str | None,
          write_keys: tuple[str, ...], retention_days: int, forward_amplitude_key: str | None,
          forward_amplitude_url: str, forward_amplitude_secret_key: str | None, forward_outbox: str | None,
          model_name_key_file: str | None, header_timeout: float, body_timeout: float, max_pending_events: int | None,
          log_level: str) -> None:
    """Run the collector: receive, validate and store telemetry; serve the dashboard."""
    from blindai_telemetry.collector.settings import CollectorSettings

    if db is not None and store_url is not None:
        raise click.UsageError("--db and --store exclude each other: name one store")
    if store_url is None:
        db = db if db is not None else DEFAULT_DB
    if forward_outbox is None and forward_amplitude_key:
        forward_outbox = f"{db}.forward-outbox.sqlite" if db is not None else "./telemetry-forward-outbox.sqlite"
    if model_name_key_file is None and db is not None:
        model_name_key_file = f"{db}.model-name-key"
    settings = CollectorSettings(
        host=host, port=port, admin_token=admin_token or None, write_keys=tuple(k for k in write_keys if k),
        retention_days=retention_days, forward_amplitude_key=forward_amplitude_key,
        forward_amplitude_url=forward_amplitude_url, forward_amplitude_secret_key=forward_amplitude_secret_key,
        forward_outbox=forward_outbox, header_timeout=header_timeout, body_timeout=body_timeout,
    )
    if not settings.loopback_only and settings.admin_token is None:
        raise click.UsageError(
            f"refusing to listen on {host} without --admin-token: beyond loopback, deletion, the query API "
            "and the dashboard must be protected"
        )

    _check_db_directory(db)
    # The port first: a collector that cannot listen must leave nothing behind (no DuckDB file, no key file).
    try:
        sock = _bind(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    with contextlib.closing(sock):
        _run(sock, settings, db, store_url, model_name_key_file, max_pending_events, log_level)


def _check_db_directory(db: str | None) -> None:
    """A `--db` in a directory that does not exist is the operator's typo, not another process's file: say so."""
    if db is None:
        return
    directory = Path(db).resolve().parent
    if not directory.is_dir():
        raise _BadPath(f"--db {db}: the directory {directory} does not exist (create it, or give another path)")


class _BadPath(click.ClickException):
    """A path given on the command line cannot be used: a usage error (exit 2), told in one line."""

    exit_code = 2


def _run(sock: socket.socket, settings: CollectorSettings, db: str | None, store_url: str | None,
         model_name_key_file: str | None, max_pending_events: int | None, log_level: str) -> None:
    """Open the store, serve on `sock` until a signal, close the store."""
    import uvicorn

    from blindai_telemetry.collector.app import create_app
    from blindai_telemetry.collector.connections import server_options
    from blindai_telemetry.stores import StoreError, open_store

    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        store = open_store(db, store_url)
    except (StoreError, ValueError, OSError) as exc:
        raise click.ClickException(f"cannot open the store: {exc}") from None
    try:
        if model_name_key_file is not None:
            try:
                key = _model_name_key(Path(model_name_key_file))
            except OSError as exc:
                raise click.ClickException(f"cannot read or create {model_name_key_file}: {exc}") from None
            settings = dataclasses.replace(settings, model_name_key=key)
        host, bound_port = settings.host, sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        click.echo(f"blindai-telemetry collector listening on http://{shown}:{bound_port}", err=True)
        click.echo(dashboard_line(shown, bound_port, settings.admin_token is not None), err=True)
        config = uvicorn.Config(
            create_app(settings, store, **({} if max_pending_events is None else
                                           {"max_pending_events": max_pending_events})), log_config=None,
            log_level=log_level, lifespan="on", access_log=False, proxy_headers=False, server_header=False,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_TIMEOUT, **server_options(settings.header_timeout),
        )
        _server_class()(config).run(sockets=[sock])
    finally:
        store.close()


def dashboard_line(shown_host: str, port: int, needs_token: bool) -> str:
    """Where the dashboard is, as the demo says it, and how to open it when it needs the admin token (never the
    token itself: this line goes to logs)."""
    line = f"Dashboard: http://{shown_host}:{port}/"
    if needs_token:
        line += " (it asks for the admin token; or open it as .../#token=<admin token>)"
    return line


COMMANDS: list[click.Command] = [serve]
