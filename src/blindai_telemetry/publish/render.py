"""The public report: its figures (`build`) and its files (`write`: index.html, report.json, report.csv, latency.csv).

`build` is the only road from the exact aggregates to anything written: every count goes through
`Disclosure`, every value through a closed vocabulary or the version pattern. `write` fills a temporary
directory beside the target and renames it into place, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blindai_telemetry.catalogue import MODES
from blindai_telemetry.publish import page
from blindai_telemetry.publish.disclosure import Disclosure, is_release_version, round_significant
from blindai_telemetry.publish.figures import REQUEST_EVENTS, Aggregates, complete_weeks
from blindai_telemetry.stores import platform_names

#: The values each table may name: closed vocabularies (the collector normalises platform names), or versions
#: matching the strict release pattern. A value outside them is never published, whatever its count.
VOCABULARIES: dict[str, Callable[[str], bool]] = {
    "server_versions": is_release_version,
    "client_versions": is_release_version,
    "modes": frozenset(MODES).__contains__,
    "os": frozenset({"Linux", "Darwin", "Windows"}).__contains__,
    "arch": frozenset({"x86_64", "arm64"}).__contains__,
}
#: The `events` column whose platform-name mapping (`stores.platform_names`, the one the dashboard reads too)
#: folds a table's spellings into one value: rows stored before normalisation keep their raw spelling. Each
#: install counts once under its last raw value, so the counts of one value's spellings add up to distinct installs.
PLATFORM_COLUMNS = {"arch": "arch", "os": "os_name"}
FORMAT = 1


class OutputError(Exception):
    """The output directory cannot be written as asked (not empty without --force, not a report, unwritable)."""


def build(aggregates: Aggregates, disclosure: Disclosure) -> dict[str, Any]:
    """The public figures of `aggregates`: what report.json holds, and all the page shows."""
    tables = {name: disclosure.table(name, _folded(counts, PLATFORM_COLUMNS.get(name)), VOCABULARIES[name])
              for name, counts in aggregates.tables.items()}
    weeks = complete_weeks(aggregates.start, aggregates.end)
    weekly = []
    for monday, true in sorted(aggregates.weekly.items()):
        n = disclosure.count(f"weekly_active_installs\0{monday}", true)
        if n is not None:
            weekly.append({"week": monday, "installs": n})
    published_modes = {row["value"] for row in tables["modes"]}
    latency = [{"mode": c.mode, "event": c.event, "p50_ms": round_significant(c.p50_ms),
                "p95_ms": round_significant(c.p95_ms), "p99_ms": round_significant(c.p99_ms)}
               # A mode suppressed in its own table is not named here either, whatever this cell's count.
               for c in aggregates.latency
               if c.installs >= disclosure.k and c.mode in published_modes and c.event in REQUEST_EVENTS]
    return {
        "format": FORMAT,
        "k": disclosure.k,
        "epsilon": disclosure.epsilon,
        # One install moves the total, one row of each table and each week's count by at most 1 apiece: the
        # whole report is ε-DP for each of those figures, so (6 + weeks)·ε-DP for the install (composition).
        "epsilon_report": round(disclosure.epsilon * (1 + len(aggregates.tables) + len(weeks)), 6),
        "method": disclosure.method(),
        "noise": "seeded (not for publication)" if disclosure.seeded else "keyed",
        "period": {"from": aggregates.start.isoformat(), "to": aggregates.end.isoformat()},
        "installs": disclosure.count("installs", aggregates.installs),
        "tables": tables,
        "weekly_active_installs": weekly,
        "latency_ms": latency,
    }


def _folded(counts: dict[str, int], column: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for value, n in counts.items():
        name = platform_names.normalise(column, value) or value if column else value
        out[name] = out.get(name, 0) + n
    return out


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def files(report: dict[str, Any]) -> dict[str, str]:
    """Each data file's name and text (the page's assets are copied by `write`)."""
    counts: list[list[Any]] = [["installs", "", report["installs"]]] if report["installs"] is not None else []
    counts += [[table, row["value"], row["installs"]] for table, rows in report["tables"].items() for row in rows]
    counts += [["weekly_active_installs", row["week"], row["installs"]] for row in report["weekly_active_installs"]]
    latency = [[r["mode"], r["event"], r["p50_ms"], r["p95_ms"], r["p99_ms"]] for r in report["latency_ms"]]
    return {
        "index.html": page.html(report),
        "report.json": json.dumps(report, indent=2, ensure_ascii=False) + "\n",
        "report.csv": _csv(["table", "value", "installs"], counts),
        "latency.csv": _csv(["mode", "event", "p50_ms", "p95_ms", "p99_ms"], latency),
    }


def check_target(out: Path, force: bool) -> None:
    """Refuse, before any work, an output that is a file, a non-empty directory without `force`, or — even with
    `force` — a non-empty directory that is not a previous report (`--force` must not wipe a home directory)."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise OutputError(f"{out} exists and is not a directory")
    if not out.exists() or not any(out.iterdir()):
        return
    if not force:
        raise OutputError(f"{out} is not empty: pass --force to replace the report in it")
    if not (out / "report.json").is_file():
        raise OutputError(f"{out} is not empty and holds no report.json: refusing to replace it even with --force")


def write(out: Path, report: dict[str, Any], force: bool = False) -> None:
    """Write the report into `out`, all at once: into a temporary directory beside it, then renamed."""
    check_target(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    old: Path | None = None
    try:
        for name, text in files(report).items():
            (staging / name).write_text(text, encoding="utf-8")
        for name, source in page.ASSETS.items():
            shutil.copyfile(source, staging / name)
        staging.chmod(0o755)  # mkdtemp makes it 0700; a web host must be able to read it
        if out.exists() and any(out.iterdir()):
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old)
        os.replace(staging, out)  # onto a missing or empty directory: one rename
    except BaseException:
        if old is not None and not out.exists():
            os.replace(old, out)
            old = None
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
