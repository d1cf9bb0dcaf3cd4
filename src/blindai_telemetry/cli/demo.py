"""`blindai-telemetry demo`: the collector on DuckDB, a simulated fleet of reference servers and clients reporting
to it, and the dashboard — one command, stopped with Ctrl-C.

Everything the demo runs keeps its settings and install ids in the demo's own temporary directory and reports
only to the demo's collector on 127.0.0.1: the process's `BLINDAI_TELEMETRY_CONFIG_DIR` and
`BLINDAI_TELEMETRY_ENDPOINT` are pointed there before any SDK instance exists, so the user's own telemetry
settings and id are neither read nor changed. The user's kill switches still apply (when they are set the fleet
sends nothing, and the demo says so).
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from blindai_telemetry import environment_variables as ev

if TYPE_CHECKING:  # the demo's heavy parts are imported when it runs
    from blindai_telemetry._settings import Settings
    from blindai_telemetry.reference.fleet import Fleet

#: Seconds between the fleet's flushes: short, so the dashboard fills within seconds of the start.
DEMO_FLUSH_INTERVAL = "1"
#: Rows per `Store.write` when seeding: one Arrow insert each, small enough to keep memory flat.
_SEED_CHUNK = 10_000


def _isolate(root: Path, endpoint: str) -> None:
    """Point this process's telemetry at the demo's directory and collector, before any SDK instance exists."""
    os.environ[ev.BLINDAI_TELEMETRY_CONFIG_DIR] = str(root / "config")
    os.environ[ev.BLINDAI_TELEMETRY_ENDPOINT] = endpoint  # a user's own endpoint override must not receive demo data
    os.environ[ev.BLINDAI_TELEMETRY_FLUSH_INTERVAL] = DEMO_FLUSH_INTERVAL


def _seed(store: Any, days: int) -> int:
    """Write the `days` UTC days before today of synthetic history (source = 'seed'), leaving today to the live
    fleet; returns the rows newly stored."""
    from blindai_telemetry.reference.seed import seed_rows

    inserted = 0
    chunk: list[dict[str, Any]] = []
    for row in seed_rows(days, now_ms=int(time.time() * 1000)):
        chunk.append(row)
        if len(chunk) >= _SEED_CHUNK:
            inserted += store.write(chunk).inserted
            chunk = []
    if chunk:
        inserted += store.write(chunk).inserted
    return inserted


def _progress(store: Any, outcomes: Mapping[str, int]) -> str:
    summary = store.summary()
    return (f"  {time.strftime('%H:%M:%S')}  {summary.get('events', 0):,} events from {summary.get('installs', 0):,}"
            f" installs stored; {sum(outcomes.values()):,} requests made by the fleet")


def _wait_for_stop(tick: Callable[[], None], every: float = 15.0) -> None:
    """Block until SIGINT (Ctrl-C) or SIGTERM, calling `tick` every `every` seconds; a second Ctrl-C interrupts
    the shutdown itself."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    next_tick = time.monotonic() + every
    try:
        while not stop.wait(0.5):  # a timed wait: signal handlers run between waits on every platform
            if time.monotonic() >= next_tick:
                next_tick += every
                tick()
    finally:
        for signum, old in previous.items():
            if signum != signal.SIGINT:
                signal.signal(signum, old)


def _announce(endpoint: str, db_path: Path, fleet: Fleet, clients: int, root: Path, machine: Settings) -> None:
    """What runs where, what the fleet will (not) send given this machine's settings, and the dashboard's URL."""
    click.echo(f"Collector  {endpoint}  (DuckDB file: {db_path})")
    for s in fleet.servers:
        click.echo(f"Server     {s.url}  mode={s.mode} version={s.version}")
    click.echo(f"Clients    {clients}, each with its own install id, uploading and running models")
    click.echo(f"Every install above is simulated, keeps its id in {root} and reports only to this collector;"
               " your own telemetry settings and id are untouched.")
    if not machine.decision.enabled:
        click.echo(click.style(f"Telemetry is disabled here ({machine.decision.reason}): the fleet sends "
                               "nothing; the dashboard shows seeded data only.", fg="yellow"))
    elif machine.destination == "debug":
        click.echo(click.style(f"{ev.BLINDAI_TELEMETRY_DEBUG} is set: the fleet prints its batches to stderr "
                               "instead of sending them; the dashboard shows seeded data only.", fg="yellow"))
    click.echo(click.style(f"\nDashboard: {endpoint}/", bold=True))


@click.command("demo")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port of the demo's collector and dashboard on 127.0.0.1 (0: any free port).")
@click.option("--db", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="DuckDB file to keep the data in (default: a temporary file, removed at exit).")
@click.option("--servers", type=click.IntRange(1, 12), default=3, show_default=True,
              help="Reference servers in the simulated fleet (modes hardware, simulation, dcsv3 in turn).")
@click.option("--clients", type=click.IntRange(1, 16), default=4, show_default=True,
              help="Clients driving traffic at them, each with its own install id.")
@click.option("--seed-days", type=click.IntRange(0, 365), default=28, show_default=True,
              help="Days of synthetic history to write first, ending where today (UTC) begins (marked as seeded "
                   "on the dashboard; 0: none).")
def demo(port: int, db: Path | None, servers: int, clients: int, seed_days: int) -> None:
    """Run a collector, a simulated fleet of BlindAI servers and clients, and the dashboard, until Ctrl-C."""
    # Heavy imports here: the CLI's other commands work with the SDK alone installed.
    from blindai_telemetry._settings import Settings
    from blindai_telemetry.collector.app import create_app
    from blindai_telemetry.collector.connections import server_options
    from blindai_telemetry.collector.settings import CollectorSettings
    from blindai_telemetry.reference.fleet import Fleet, start_servers, start_traffic
    from blindai_telemetry.reference.threaded import ThreadedServer
    from blindai_telemetry.stores import StoreError, open_store

    root = Path(tempfile.mkdtemp(prefix="blindai-telemetry-demo-"))
    store: Any = None
    collector: ThreadedServer | None = None
    fleet = Fleet()
    try:
        db_path = db if db is not None else root / "telemetry.duckdb"
        try:
            store = open_store(db=str(db_path))
        except StoreError as exc:
            raise click.ClickException(f"cannot open {db_path}: {exc}") from exc
        try:
            settings = CollectorSettings(host="127.0.0.1", port=port)
            collector = ThreadedServer(create_app(settings, store), port=port,
                                       **server_options(settings.header_timeout))  # serve's limits on slow clients
        except OSError as exc:
            raise click.ClickException(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); try --port 0") from exc
        endpoint = collector.url
        _isolate(root, endpoint)
        machine = Settings.resolve({}, os.environ)  # what the fleet's installs start from: the user's kill switches
        if seed_days:
            seeded = _seed(store, seed_days)
            click.echo(f"Seeded {seed_days} days of synthetic history before today, UTC ({seeded:,} events, marked as"
                       " seeded); today shows only what the fleet below sends.")
        collector.start()
        start_servers(fleet, servers, root / "servers", endpoint)
        start_traffic(fleet, clients, root / "clients", endpoint)

        _announce(endpoint, db_path, fleet, clients, root, machine)
        click.echo("Press Ctrl-C to stop.")
        _wait_for_stop(lambda: click.echo(_progress(store, fleet.totals())))
        click.echo("\nStopping: traffic, servers (delivering their last events), collector...")
    finally:
        fleet.stop()
        if collector is not None:
            collector.stop(timeout=10.0)
        if store is not None:
            store.close()
        shutil.rmtree(root, ignore_errors=True)
    totals = fleet.totals()
    ok = totals.get("ok", 0)
    failed = sum(totals.values()) - ok
    click.echo(f"Stopped. {ok:,} requests succeeded, {failed:,} failed on purpose or otherwise.")


COMMANDS: list[click.Command] = [demo]
