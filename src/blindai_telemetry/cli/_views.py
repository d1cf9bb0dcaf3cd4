"""Plain-text views for the user commands: the catalogue, the transparency log table, times and sizes."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any


def format_time_ms(value: object) -> str:
    """A Unix-milliseconds time as `YYYY-MM-DD HH:MM:SS UTC`, or `?` when it is not one."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "?"
    try:
        moment = dt.datetime.fromtimestamp(value / 1000, tz=dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return "?"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _field_line(f: dict[str, Any], indent: str, width: int) -> str:
    choices = f" (one of: {', '.join(f['choices'])})" if f.get("choices") else ""
    return f"{indent}{f['name']:<{width}} {f['type']:<8} {f['why']}{choices}"


def catalogue_text(catalogue: dict[str, Any]) -> str:
    """The catalogue (`catalogue.as_dict()`) for people: context, events with their properties, never collected."""
    names = [f["name"] for f in (*catalogue["envelope"], *catalogue["context"])]
    names += [p["name"] for e in catalogue["events"] for p in e["properties"]]
    width = max(len(n) for n in names)
    lines = [
        f"BlindAI Telemetry event catalogue, version {catalogue['version']}",
        "Nothing outside this list leaves a process; anything else passed to track() is dropped and counted.",
        "",
        "Every event carries:",
        *(_field_line(f, "  ", width + 2) for f in catalogue["envelope"]),
        "",
        "Context attached to every event:",
        *(_field_line(f, "  ", width + 2) for f in catalogue["context"]),
        "",
        "Events:",
    ]
    for event in catalogue["events"]:
        lines.append(f"  {event['name']} — {event['why']}")
        if not event["properties"]:
            lines.append("    (no properties)")
        lines.extend(_field_line(p, "    ", width) for p in event["properties"])
    lines += ["", "Never collected:", *(f"  - {item}" for item in catalogue["never_collected"])]
    return "\n".join(lines)


def event_names(payload: object) -> list[str]:
    """The event names in a sent payload: native batches (`event`) and Amplitude bodies (`event_type`)."""
    events = payload.get("events") if isinstance(payload, dict) else None
    names: list[str] = []
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict):
            name = event.get("event", event.get("event_type"))
            names.append(name if isinstance(name, str) else "?")
    return names


def summarise_names(names: Iterable[str]) -> str:
    """`model_run ×3, server_started` in order of first appearance."""
    counts = Counter(names)
    return ", ".join(name if n == 1 else f"{name} ×{n}" for name, n in counts.items()) or "—"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A left-aligned text table; the last column is not padded so long event lists do not add blanks."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)]
        return "  ".join([*padded, cells[-1]]).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def sent_log_table(records: Sequence[dict[str, Any]]) -> str:
    """The transparency log as a table: time, transport, endpoint, outcome, events, event names."""
    rows = []
    for record in records:
        names = event_names(record.get("payload"))
        rows.append([
            format_time_ms(record.get("sent_at")),
            str(record.get("transport", "?")),
            str(record.get("endpoint") or "—"),
            str(record.get("outcome", "?")),
            str(record.get("events", len(names))),
            summarise_names(names),
        ])
    return table(["time", "transport", "endpoint", "outcome", "events", "event names"], rows)
