"""One batch on the worker: what it carries, its event ids, and its native JSON made in slices.

The worker shares the GIL with the host app. A thread that wants the GIL back waits for the holder to let go,
and a busy Python thread lets go only every `sys.getswitchinterval()` (5 ms), a C call such as `json.dumps`
of a whole batch not even then. Building and serialising 500 events in one go therefore added up to a few
milliseconds to whichever request arrived meanwhile: the p99 of the reference server's `run_model` rose by
tens of percent. So the worker does this work in slices of `SLICE` events and lets go of the GIL between
slices (`pause`), for long enough that a waiting request thread really takes it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blindai_telemetry._transport import dumps

#: Events built or serialised between two pauses (~10 µs each). Shorter slices shorten the wait of a request
#: that needs the GIL meanwhile, at the cost of more pauses (CPU). Measured with the reference server
#: (`benchmarks.inference`, collector replaced by a sink that does no work, 24,000 requests, noise ±3.5 %):
#: `run_model` p99 over no telemetry was +22 % with slices of 64, +16 % with 16, +12 % with 4, and +23-26 %
#: before slicing; server CPU per request +61, +60, +83 µs.
SLICE = 8
#: How long each pause lets go of the GIL. `time.sleep(0)` is not enough: the worker takes the GIL back
#: before a waiting thread has woken up, and that thread then waits out the full switch interval.
PAUSE = 0.0001


@dataclass
class Batch:
    events: list[dict[str, Any]]
    dropped: dict[str, int]
    #: How many of this process's queued items it stands for (0 for a batch replayed from the spool).
    items: int = 0
    spool_path: Path | None = None


def pause() -> None:
    time.sleep(PAUSE)


def event_ids(count: int) -> list[str]:
    """`count` random UUID4 strings, from one call to the OS's random source (a quarter of what
    `str(uuid.uuid4())` costs each)."""
    hexes = os.urandom(16 * count).hex()
    ids = []
    for i in range(0, 32 * count, 32):
        # RFC 4122: version nibble 4; variant bits 10xx, keeping the two random bits below them.
        variant = "89ab"[int(hexes[i + 16], 16) & 3]
        ids.append(f"{hexes[i:i + 8]}-{hexes[i + 8:i + 12]}-4{hexes[i + 13:i + 16]}-"
                   f"{variant}{hexes[i + 17:i + 20]}-{hexes[i + 20:i + 32]}")
    return ids


def encode_native(payload: dict[str, Any], between: Callable[[], None] = pause) -> bytes:
    """`dumps(payload)` — byte for byte — serialised in slices of events with `between()` called between
    them (the payload's last key must be `events`, else it is serialised in one go)."""
    if list(payload)[-1:] != ["events"]:
        return dumps(payload)
    events = payload["events"]
    head = dumps({k: v for k, v in payload.items() if k != "events"})
    parts = [head[:-1], b',"events":[' if len(head) > 2 else b'{"events":[']
    for start in range(0, len(events), SLICE):
        if start:
            between()
            parts.append(b",")
        parts.append(dumps(events[start:start + SLICE])[1:-1])
    parts.append(b"]}")
    return b"".join(parts)
