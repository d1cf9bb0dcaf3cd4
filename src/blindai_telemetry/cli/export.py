"""`blindai-telemetry export`: the `events` table to Parquet or CSV, from a DuckDB file or a running collector.

Backups and ad-hoc analysis then need nothing the project does not install (no DuckDB CLI). A DuckDB file is
read directly when no process holds it (read-only: it is never changed, not even its schema); while a
collector has it open, the collector exports it (`--url`, `GET /api/v1/export` with the admin token). Bad input
is one line and exit code 2, and the output file appears only once complete.
"""

from __future__ import annotations

import shutil
import urllib.error
import urllib.parse
import urllib.request
from datetime import date
from pathlib import Path

import click

from blindai_telemetry.environment_variables import BLINDAI_TELEMETRY_ADMIN_TOKEN

FORMATS = ("parquet", "csv")


class ExportError(click.ClickException):
    """Bad input: one line on stderr (not click's usage block) and exit code 2."""

    exit_code = 2


class ExportFailed(click.ClickException):
    """A failure on the way (collector unreachable, token refused): one line and exit code 1."""

    exit_code = 1


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ExportError(f"{option} must be a day as YYYY-MM-DD, got {value!r}") from None


def _from_file(db: str, out: Path, fmt: str, start: date | None, end: date | None, app: str | None) -> int:
    import duckdb

    from blindai_telemetry.dashboard import export

    if not Path(db).is_file():
        raise ExportError(f"no DuckDB file at {db}")
    try:
        conn = duckdb.connect(db, read_only=True)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise ExportError(f"{db} is held by another process (a running collector?): export through it with "
                              "--url URL --token TOKEN") from None
        raise ExportError(f"cannot open {db}: {exc}") from None
    except duckdb.Error as exc:
        raise ExportError(f"cannot open {db}: {exc}") from None
    try:
        sql = export.select("duckdb", start, end, app)
        with export.atomic_file(out) as tmp:
            return export.write(conn.sql(sql).to_arrow_reader(export.BATCH_ROWS), tmp, fmt)  # type: ignore[arg-type]
    except duckdb.Error as exc:
        raise ExportFailed(f"cannot read the events of {db}: {exc}") from None
    finally:
        conn.close()


def _from_collector(url: str, token: str | None, out: Path, fmt: str, start: date | None, end: date | None,
                    app: str | None, timeout: float) -> None:
    from blindai_telemetry.dashboard import export

    params = {"format": fmt, "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
              "app": app}
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    request = urllib.request.Request(f"{url.rstrip('/')}/api/v1/export?{query}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, export.atomic_file(out) as tmp, \
                tmp.open("wb") as file:
            shutil.copyfileobj(response, file, 1 << 20)
    except urllib.error.HTTPError as exc:
        with exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
        if exc.code == 401:
            raise ExportFailed(
                f"{url} needs the admin token: pass --token or set {BLINDAI_TELEMETRY_ADMIN_TOKEN}") from None
        failure = ExportError if 400 <= exc.code < 500 else ExportFailed  # our request, or the collector
        raise failure(f"{url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ExportFailed(f"cannot export from the collector at {url}: {reason}") from None


@click.command("export")
@click.option("--db", metavar="PATH", help="Read this DuckDB file (no other process may have it open).")
@click.option("--url", metavar="URL", help="Ask this running collector (e.g. http://127.0.0.1:8787).")
@click.option("--token", envvar=BLINDAI_TELEMETRY_ADMIN_TOKEN,
              help=f"Admin token for --url (or ${BLINDAI_TELEMETRY_ADMIN_TOKEN}).")
@click.option("--out", "out", required=True, metavar="FILE", help="The file to write (replaced when complete).")
@click.option("--format", "fmt", metavar="parquet|csv",
              help="File format [default: from --out's suffix, else parquet].")
@click.option("--from", "start", metavar="DAY", help="First day (UTC, YYYY-MM-DD), inclusive.")
@click.option("--to", "end", metavar="DAY", help="Last day (UTC, YYYY-MM-DD), inclusive.")
@click.option("--app", help="Only events of this app.")
@click.option("--timeout", type=float, default=600.0, show_default=True, help="Seconds to wait for --url.")
def export_command(db: str | None, url: str | None, token: str | None, out: str, fmt: str | None,
                   start: str | None, end: str | None, app: str | None, timeout: float) -> None:
    """Write the `events` table (CI included) to a Parquet or CSV file: backups and ad-hoc analysis."""
    if (db is None) == (url is None):
        raise ExportError("name one source: --db PATH or --url URL")
    target = Path(out)
    fmt = (fmt or ("csv" if target.suffix.lower() == ".csv" else "parquet")).lower()
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}: use parquet or csv")
    first, last = _day(start, "--from"), _day(end, "--to")
    from blindai_telemetry.dashboard.filters import Filters

    try:
        Filters(start=first, end=last, app=app)  # the same checks the collector makes
    except ValueError as exc:
        raise ExportError(str(exc).replace("'from'", "--from").replace("'to'", "--to")) from None
    if not target.parent.is_dir():
        raise ExportError(f"no directory {target.parent} for --out")
    if db is not None:
        rows = _from_file(db, target, fmt, first, last, app)
        click.echo(f"Exported {rows:,} events to {target} ({fmt}).", err=True)
    else:
        assert url is not None
        _from_collector(url, token, target, fmt, first, last, app, timeout)
        click.echo(f"Exported the events to {target} ({fmt}, {target.stat().st_size:,} bytes).", err=True)


COMMANDS: list[click.Command] = [export_command]
