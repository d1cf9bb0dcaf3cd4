"""Turn the measurements into one table: our figure, the floor, each peer, the ratios and a verdict per target."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import sdks
from .scenarios import EXIT_ENDPOINTS, Sizes

Results = dict[str, dict[str, dict[str, Any]]]
COLUMNS = (sdks.OURS, sdks.FLOOR, *sdks.PEERS)


@dataclass
class Row:
    """One line of the table; `values` by SDK name (None: not measured or failed), `verdict` on our figure."""

    label: str
    target: str
    values: dict[str, float | None]
    fmt: Callable[[float | None], str]
    ours_over_floor: float | None = None
    peer_over_ours: float | None = None
    verdict: str = ""


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value / 1000:.2f}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value / 1e6:.1f}"


def _decimal(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _count(value: float | None) -> str:
    return "-" if value is None else f"{int(value):,}"


def _verdict(checks: list[tuple[str, bool | None]]) -> str:
    """'pass', or 'FAIL: <each missed target>'; a check without a figure (None) is named as unchecked."""
    if all(ok is None for _, ok in checks):
        return "n/a (not measured)"
    failed = [name for name, ok in checks if ok is False]
    unchecked = [name.lstrip("<> ") for name, ok in checks if ok is None]
    verdict = "pass" if not failed else "FAIL: " + ", ".join(failed)
    return verdict + (f" (unchecked: {', '.join(unchecked)})" if unchecked else "")


def _within(value: float | None, bound: float) -> bool | None:
    """value ≤ bound, or None when there is no value."""
    return None if value is None else value <= bound


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom


def _best_peer(values: dict[str, float | None]) -> float | None:
    measured = [v for name, v in values.items() if name in sdks.PEERS and v is not None]
    return min(measured) if measured else None


def _pick(results: Results, scenario: str, key: str) -> dict[str, float | None]:
    per_sdk = results.get(scenario, {})
    return {name: per_sdk.get(name, {}).get(key) for name in COLUMNS}


def build_rows(results: Results, sizes: Sizes) -> list[Row]:
    """The table's rows, for the measurements that were run."""
    rows: list[Row] = []
    if "hotpath" in results:
        _hotpath_rows(rows, results)
    if "cpu" in results:
        _cpu_rows(rows, results)
    if "memory" in results:
        _memory_rows(rows, results, sizes)
    if "delivery" in results:
        _delivery_rows(rows, results, sizes)
    if "burst" in results:
        _burst_rows(rows, results, sizes)
    if "exit" in results:
        _exit_rows(rows, results, sizes)
    return rows


def _hotpath_rows(rows: list[Row], results: Results) -> None:
    median = _pick(results, "hotpath", "median_ns")
    ours, floor, peer = median[sdks.OURS], median[sdks.FLOOR], _best_peer(median)
    row = Row("track() median, µs", "≤ 3 µs, ≤ 8× floor, best peer ≥ 10× ours", median, _us,
              _ratio(ours, floor), _ratio(peer, ours))
    row.verdict = _verdict([
        ("> 3 µs", _within(ours, 3_000)),
        ("> 8× floor", _within(row.ours_over_floor, 8)),
        ("< 10× best peer", None if row.peer_over_ours is None else not row.peer_over_ours < 10)])
    rows.append(row)
    p99 = _pick(results, "hotpath", "p99_ns")
    row = Row("track() p99, µs", "≤ 20 µs", p99, _us, _ratio(p99[sdks.OURS], p99[sdks.FLOOR]),
              _ratio(_best_peer(p99), p99[sdks.OURS]))
    row.verdict = _verdict([("> 20 µs", _within(p99[sdks.OURS], 20_000))])
    rows.append(row)


def _cpu_rows(rows: list[Row], results: Results) -> None:
    """Process CPU per event (caller + worker), beside json.dumps + gzip 6 of the same events, in the same run."""
    cpu = results.get("cpu", {})
    floor = cpu.get("memory", {}).get("floor_ns_per_event")
    for kind, words in (("memory", "InMemoryTransport"), ("http", "HTTP to a receiver in another process")):
        ours = cpu.get(kind, {}).get("cpu_ns_per_event")
        values: dict[str, float | None] = {name: None for name in COLUMNS}
        values[sdks.OURS], values[sdks.FLOOR] = ours, floor
        row = Row(f"process CPU per event, end to end ({words}), µs", "≤ 2× floor (json.dumps + gzip 6)",
                  values, _us, _ratio(ours, floor))
        dropped = cpu.get(kind, {}).get("dropped")
        row.verdict = _verdict([("> 2× floor", _within(row.ours_over_floor, 2)),
                                (f"dropped {dropped}", None if dropped is None else not dropped)])
        rows.append(row)


def _memory_rows(rows: list[Row], results: Results, sizes: Sizes) -> None:
    growth = _pick(results, "memory", "growth_bytes")
    row = Row(f"RSS growth, MB (collector down; ours {sizes.memory_events_ours:,} events, "
              f"peers {sizes.memory_events_peers:,})", "≤ 20 MB", growth, _mb,
              # No peer ratio: the peers track fewer events, so dividing their growth by ours would flatter them.
              _ratio(growth[sdks.OURS], growth[sdks.FLOOR]))
    row.verdict = _verdict([("> 20 MB", _within(growth[sdks.OURS], 20e6))])
    rows.append(row)


def _delivery_rows(rows: list[Row], results: Results, sizes: Sizes) -> None:
    lost = _pick(results, "delivery", "lost")
    row = Row(f"delivery {sizes.delivery_rate:,}/s × {sizes.delivery_seconds:g} s: events lost", "0", lost, _count)
    row.verdict = _verdict([("lost events", None if lost[sdks.OURS] is None else lost[sdks.OURS] == 0)])
    rows.append(row)


def _burst_rows(rows: list[Row], results: Results, sizes: Sizes) -> None:
    burst = results.get("burst", {})
    rows.append(Row(f"burst {sizes.burst_events:,} (sink {sizes.burst_delay * 1000:g} ms/request): "
                    "seconds to make the calls", "—", _pick(results, "burst", "seconds"), _decimal))
    rows.append(Row("burst: lost (not delivered)", "—", _pick(results, "burst", "lost"), _count))
    rows.append(Row("burst: of which only logged ('queue is full')", "—", _pick(results, "burst", "logged_drops"),
                    _count))
    silent = _pick(results, "burst", "silent")
    mine = burst.get(sdks.OURS, {})
    counted, reported = mine.get("counted_drops"), mine.get("reported_drops")
    row = Row("burst: lost without being counted (silent)", "0; drops reported to the collector", silent, _count)
    row.verdict = _verdict([
        ("silent losses", None if silent[sdks.OURS] is None else silent[sdks.OURS] == 0),
        (f"reported {reported} of {counted} drops", None if counted is None else reported == counted)])
    rows.append(row)


def _exit_rows(rows: list[Row], results: Results, sizes: Sizes) -> None:
    exits = results.get("exit", {})
    for kind in EXIT_ENDPOINTS:
        for how, words in (("return", "return from main"), ("shutdown", "explicit shutdown()")):
            key = f"{kind}/{how}"
            values: dict[str, float | None] = {}
            for name in COLUMNS:
                run = exits.get(name, {}).get(key)
                values[name] = None if run is None else (float("inf") if run["killed"] else run["seconds"])
            ours = values[sdks.OURS]
            row = Row(f"exit, endpoint {kind}, {words}: s", "≤ 1.5 s", values, _seconds(sizes.exit_kill),
                      peer_over_ours=_ratio(_best_peer(values), ours))
            row.verdict = _verdict([("> 1.5 s", _within(ours, 1.5))])
            rows.append(row)


def _seconds(kill: float) -> Callable[[float | None], str]:
    def fmt(value: float | None) -> str:
        if value is None:
            return "-"
        return f">{kill:g} (killed)" if value == float("inf") else f"{value:.2f}"
    return fmt


def _times(value: float | None) -> str:
    if value is None:
        return "-"
    return ">many" if value == float("inf") else f"{value:.1f}×"


def render(rows: list[Row]) -> str:
    """A plain-text table, also valid Markdown, for the terminal and the README."""
    header = ["measurement", "target", *COLUMNS, "ours/floor", "best peer/ours", "verdict"]
    table = [header] + [[row.label, row.target, *(row.fmt(row.values.get(name)) for name in COLUMNS),
                         _times(row.ours_over_floor), _times(row.peer_over_ours), row.verdict] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    lines = ["| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)) + " |" for line in table]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
