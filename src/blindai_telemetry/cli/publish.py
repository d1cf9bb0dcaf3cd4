"""`blindai-telemetry publish`: a static public usage report that cannot re-identify anyone (docs/privacy.md).

Nothing is published unless the operator runs this command; it writes files into a directory and sends nothing.
Every input is checked before any query runs; any failure is one line on stderr and exit code 2, and the
output directory is left as it was.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from blindai_telemetry.environment_variables import BLINDAI_TELEMETRY_ADMIN_TOKEN
from blindai_telemetry.publish.disclosure import DEFAULT_EPSILON, DEFAULT_K, MAX_EPSILON, MIN_K

KEY_FILE = "publish.key"


class PublishError(click.ClickException):
    """One line on stderr, exit code 2: bad input, a store that cannot be read, an output that cannot be written."""

    exit_code = 2


def _read_key(path: Path) -> bytes:
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PublishError(f"cannot read the noise key {path}: {exc}") from None
    if len(key) < 16:
        raise PublishError(f"the noise key in {path} is shorter than 16 bytes")
    return key


def _key(key_file: str | None, seed: str | None) -> bytes:
    """The noise key: from --seed (tests and audits), from --key-file, else the operator's own key file in the
    config directory, made on first use (readable by its owner only)."""
    from blindai_telemetry._config import config_dir
    from blindai_telemetry.publish.disclosure import key_from_seed, new_key

    if seed is not None:
        return key_from_seed(seed)
    path = Path(key_file) if key_file else config_dir() / KEY_FILE
    if key_file or path.exists():
        return _read_key(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        key = new_key()
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(key.hex() + "\n")
    except FileExistsError:  # another publish made it meanwhile
        return _read_key(path)
    except OSError as exc:
        raise PublishError(f"cannot create the noise key {path}: {exc}") from None
    click.echo(f"Made a new secret noise key in {path}: keep it, and keep it private. Publishing the same data "
               "again with it gives the same figures.", err=True)
    return key


def _gather_store(db: str | None, store_url: str | None, start: Any, end: Any) -> Any:
    from blindai_telemetry.publish import figures
    from blindai_telemetry.stores import StoreError, open_store

    try:
        store = open_store(db=db, url=store_url)
    except (StoreError, ValueError, ImportError) as exc:
        raise PublishError(str(exc).splitlines()[0]) from None
    try:
        return figures.gather(store, start, end)
    except (StoreError, ValueError) as exc:
        raise PublishError(f"cannot read the store: {str(exc).splitlines()[0]}") from None
    finally:
        store.close()


def _gather_url(url: str, token: str | None, timeout: float, start: Any, end: Any) -> Any:
    from blindai_telemetry.cli.report import ReportError, http_source
    from blindai_telemetry.publish.figures import Aggregates

    fetch = http_source(url, token, timeout)
    try:
        body = fetch("publish/aggregates", {"from": start.isoformat(), "to": end.isoformat()})
        return Aggregates.from_dict(body)
    except ReportError as exc:
        raise PublishError(exc.message) from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PublishError(f"{url} answered something that is not the publish aggregates ({exc!r})") from None


@click.command("publish")
@click.option("--db", type=click.Path(dir_okay=False), help="Read this DuckDB file (no collector may have it open).")
@click.option("--store", "store_url", metavar="URL", help="Read this store (clickhouse://…, chdb://…).")
@click.option("--url", metavar="URL", help="Ask this collector for the aggregates (needs the admin token).")
@click.option("--token", envvar=BLINDAI_TELEMETRY_ADMIN_TOKEN,
              help=f"Admin token for --url (or ${BLINDAI_TELEMETRY_ADMIN_TOKEN}).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Directory to write.")
@click.option("--k", "k", type=int, default=DEFAULT_K, show_default=True,
              help=f"Least number of distinct installs behind every published figure (at least {MIN_K}).")
@click.option("--epsilon", type=float, default=DEFAULT_EPSILON, show_default=True,
              help=f"Privacy parameter of the noise on every count (above 0, at most {MAX_EPSILON:g}; smaller = "
                   "more noise).")
@click.option("--days", type=click.IntRange(7, 3650), default=90, show_default=True,
              help="Days in the period, ending yesterday or on --until (UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]),
              help="Last day of the period (UTC), e.g. the end of a quarter. Default: yesterday.")
@click.option("--key-file", type=click.Path(dir_okay=False),
              help="Secret noise key (hex). Default: publish.key in the config directory, made on first use.")
@click.option("--seed", help="Derive the noise from this text instead of a secret key: reproducible figures "
                             "for tests and audits only (anyone knowing the seed can remove the noise).")
@click.option("--force", is_flag=True, help="Replace the previous report in --out.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait for --url.")
def publish(db: str | None, store_url: str | None, url: str | None, token: str | None, out_dir: str, k: int,
            epsilon: float, days: int, until: datetime | None, key_file: str | None, seed: str | None, force: bool,
            timeout: float) -> None:
    """Write a public usage report (index.html, report.json, report.csv) that cannot re-identify anyone."""
    from blindai_telemetry.publish import figures, render
    from blindai_telemetry.publish.disclosure import Disclosure, check_rules

    began = time.perf_counter()
    if sum(x is not None for x in (db, store_url, url)) != 1:
        raise PublishError("name exactly one source: --db PATH, --store URL or --url URL")
    if key_file is not None and seed is not None:
        raise PublishError("--key-file and --seed exclude each other")
    out = Path(out_dir)
    try:
        start, end = figures.period(days, datetime.now(timezone.utc).date(), until.date() if until else None)
        check_rules(k, epsilon)  # before anything is read or written
        render.check_target(out, force)
    except (ValueError, render.OutputError) as exc:
        raise PublishError(str(exc)) from None
    if db is not None and not Path(db).is_file():  # opening it would make an empty database
        raise PublishError(f"no DuckDB file at {db}")
    if url is not None:
        aggregates = _gather_url(url, token, timeout, start, end)
    else:
        aggregates = _gather_store(db, store_url, start, end)
    disclosure = Disclosure(k, epsilon, _key(key_file, seed), f"{start.isoformat()}/{end.isoformat()}",
                            seeded=seed is not None)
    report = render.build(aggregates, disclosure)
    try:
        render.write(out, report, force)
    except (OSError, render.OutputError) as exc:
        raise PublishError(f"cannot write {out}: {exc}") from None
    published = sum(len(rows) for rows in report["tables"].values())
    click.echo(f"Wrote {out}/index.html, report.json, report.csv: {start} to {end}, k={k}, ε={epsilon:g}, "
               f"{published} table rows, {len(report['weekly_active_installs'])} weeks, "
               f"{len(report['latency_ms'])} latency rows, in {time.perf_counter() - began:.1f} s.")


COMMANDS: list[click.Command] = [publish]
