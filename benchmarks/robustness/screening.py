"""What the collector's screening of free text costs on hostile values, against the same batch with the ordinary
values an SDK sends (the floor, measured in the same run).

Every free-text field of an event is screened for personal data with the scrubber's patterns. Regexes that try
every start position of a long run are quadratic on some inputs: one such value of 200 characters cost up to
0.5 ms, and a batch of 2,000 events carrying five of them held the event loop for 6.7 s. This times
`check_rows` on a batch of 2,000 events whose five text fields hold distinct 200-character values of the shapes
that were slow (so the memo cannot help), next to the ordinary batch.
"""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

from blindai_telemetry.collector.validate import check_rows

EVENTS = 2_000
FIELDS = ("app_version", "os_name", "os_release", "arch", "python_version")
#: Units repeated to 200 characters: dotted runs, long runs, runs broken by non-word characters, colons.
SHAPES = ("a.", "1.", "a", "a+", "a:", "a-", "aA1+", "x=", "a_")


def _event(i: int, text: dict[str, str]) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "event": "model_run", "time": int(time.time() * 1000),
            "install_id": str(uuid.UUID(int=i % 50, version=4)), "session_id": str(uuid.uuid4()),
            "app": "blindai-server", "mode": "simulation", **text,
            "properties": {"model_name": "resnet50", "duration_ms": 1.5, "ok": True}}


def _hostile(rng: random.Random) -> str:
    unit = rng.choice(SHAPES)
    value = (unit * (200 // len(unit) + 1))[:196]
    return value + "".join(rng.choice("bcdefgh") for _ in range(4))  # distinct: the memo cannot answer


def batches(seed: int = 1) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(seed)
    ordinary = {"app_version": "0.6.3", "os_name": "Linux", "os_release": "6.1.0-18-amd64", "arch": "x86_64",
                "python_version": "3.11.7"}
    return ([_event(i, ordinary) for i in range(EVENTS)],
            [_event(i, {f: _hostile(rng) for f in FIELDS}) for i in range(EVENTS)])


def _seconds(rows: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    check_rows(rows, source="amplitude", received_at_ms=int(time.time() * 1000), strict=False)
    return time.perf_counter() - start


def measure(repeat: int = 3) -> dict[str, float]:
    """Best of `repeat` (each on fresh values) for both batches, in µs per event."""
    ordinary, hostile = [], []
    for r in range(repeat):
        plain, bad = batches(seed=r)
        ordinary.append(_seconds(plain))
        hostile.append(_seconds(bad))
    return {"ordinary_us": min(ordinary) / EVENTS * 1e6, "hostile_us": min(hostile) / EVENTS * 1e6}


def report(figures: dict[str, float]) -> str:
    ratio = figures["hostile_us"] / figures["ordinary_us"]
    return (f"screening free text ({EVENTS:,} events, {len(FIELDS)} fields of 200 characters): ordinary values "
            f"{figures['ordinary_us']:.1f} us/event (the floor), hostile values {figures['hostile_us']:.1f} "
            f"us/event ({ratio:.0f}x; a hostile batch holds the event loop "
            f"{figures['hostile_us'] * EVENTS / 1e6:.2f} s)")
