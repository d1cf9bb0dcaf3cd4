"""What `status` and `inspect` say about delivery: events sent, waiting in the spool, lost for good, and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from blindai_telemetry import _delivery
from blindai_telemetry._spool import Spool
from blindai_telemetry.cli import _views


def spool_of(config_dir: Path) -> Spool:
    """The spool the SDK uses by default for the install whose settings are in `config_dir`."""
    return Spool(_delivery.state_dir(config_dir) / _delivery.SPOOL_DIR)


def delivery(config_dir: Path) -> dict[str, Any]:
    """`status --json`'s `delivery`: kept across runs by the SDK's worker; `pending` counted from the spool."""
    record = _delivery.read(config_dir)
    spool = spool_of(config_dir)

    def count(key: str) -> int:
        value = record.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    return {"sent": count("sent"), "pending": spool.pending_events(), "lost": count("lost"),
            "last_error": record.get("last_error") if isinstance(record.get("last_error"), str) else None,
            "last_attempt_at": record.get("last_attempt_at"), "last_sent_at": record.get("last_sent_at"),
            "endpoint": record.get("endpoint"), "spool_dir": str(spool.directory)}


def delivery_lines(data: dict[str, Any]) -> list[str]:
    """The delivery record in words, e.g. "5 events waiting: the collector at … did not answer (connection
    refused) at 2026-12-04 14:02 UTC"."""
    pending, error, attempt = data["pending"], data["last_error"], data["last_attempt_at"]
    at = f" at {_views.format_time_ms(attempt)}" if isinstance(attempt, int) else ""
    if pending and error:
        first = f"{pending:,} event(s) waiting: {error}{at}. They go out with the next start."
    elif pending:
        first = f"{pending:,} event(s) waiting in {data['spool_dir']}; they go out with the next start."
    elif error:
        first = f"nothing waiting; the last attempt failed: {error}{at}."
    elif attempt is not None:
        first = "every event was delivered."
    else:
        first = "nothing sent yet."
    return [f"Delivery:    {first}",
            f"             {data['sent']:,} event(s) sent, {data['lost']:,} lost for good (dropped, refused by the "
            "collector or pushed out of a full spool; counts only, never contents)"]


def waiting_lines(config_dir: Path) -> list[str]:
    """`inspect`: each batch waiting in the spool, oldest first."""
    spool = spool_of(config_dir)
    files = spool.listing()
    if not files:
        return [f"Nothing is waiting to be sent (the spool would be {spool.directory})."]
    lines = [f"Waiting to be sent ({sum(f.events for f in files):,} event(s) in {spool.directory}):"]
    for file in files:
        when = _views.format_time_ms(file.created_ns // 1_000_000)
        state = f" (being sent by process {file.claimed_by})" if file.claimed_by is not None else ""
        lines.append(f"  {when}  {file.events:>5,} event(s)  {file.path.name}{state}")
    return lines
