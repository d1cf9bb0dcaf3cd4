"""Process CPU per event, end to end: what the whole process (caller and worker) pays for each event, beside a floor.

The child (`python -m benchmarks.sdk.child cpu ours ENDPOINT --transport memory|http`) tracks N `model_run`
events with a client's facts, as a BlindAI server does for each request, then flushes; the figure is the
process's CPU time (all threads: `time.process_time()`) from the first `track()` to the end of the flush,
divided by N. With `memory` the batches go to `InMemoryTransport` (no network); with `http` to the benchmark's
sink, a receiver in another process (the parent), gzip and keep-alive included.

The floor is what the wire format itself costs, measured in the same child on the very events that were sent:
`json.dumps` + gzip (level 6) of them in batches of 500. The queue holds all N events, so that none is dropped
(a dropped event would cost nothing and flatter the figure); the child reports what was dropped anyway.
"""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

#: The facts a real BlindAI client sends with each request (benchmarks.inference uses the same).
CLIENT = {"install_id": "6f1d2c7e-8a7b-4c1e-9d2f-0b1c2d3e4f50", "app_version": "0.6.3", "os_name": "Linux",
          "os_release": "6.1.0", "arch": "x86_64", "user_agent": "blindai-python"}
FLOOR_BATCH = 500
WARMUP = 1_000


def floor_ns_per_event(events: list[dict[str, Any]]) -> float:
    """CPU ns per event of `json.dumps` + gzip level 6 of `events` in batches of 500."""
    started = time.process_time_ns()
    for start in range(0, len(events), FLOOR_BATCH):
        body = json.dumps({"events": events[start:start + FLOOR_BATCH]}, separators=(",", ":")).encode()
        gzip.compress(body, compresslevel=6)
    return (time.process_time_ns() - started) / max(1, len(events))


def measure(endpoint: str, events: int, transport_kind: str) -> dict[str, Any]:
    from blindai_telemetry import ClientInfo, InMemoryTransport, Telemetry

    memory = InMemoryTransport() if transport_kind == "memory" else None
    telemetry = Telemetry(app="blindai-server", app_version="0.6.3", endpoint=endpoint, transport=memory,
                          mode="simulation", max_queue_size=events + WARMUP)
    client = ClientInfo(**CLIENT)
    track = telemetry.track
    for i in range(WARMUP):  # imports, caches, the first connection: not what an event costs
        track("model_run", model_name="resnet50", duration_ms=float(i), input_bytes=1024, ok=True, client=client)
    telemetry.flush(timeout=30.0)
    started = time.process_time_ns()
    for i in range(events):
        track("model_run", model_name="resnet50", duration_ms=12.5 + i % 100, input_bytes=1024, ok=True,
              client=client)
    flushed = telemetry.flush(timeout=120.0)
    cpu = time.process_time_ns() - started
    stats = telemetry.stats()
    result: dict[str, Any] = {"events": events, "cpu_ns_per_event": cpu / events, "flushed": flushed,
                              "dropped": stats["dropped"], "sent": stats["sent"] - WARMUP}
    if memory is not None:
        result["floor_ns_per_event"] = floor_ns_per_event(memory.events[-events:])
    return result


def run(sink_url: str, events: int, limit: float) -> dict[str, dict[str, Any]]:
    """Parent side: one child per transport; the floor comes from the in-memory child's events."""
    from .runner import run_child

    results: dict[str, dict[str, Any]] = {}
    for kind in ("memory", "http"):
        child = run_child("cpu", "ours", sink_url, ["--n", str(events), "--transport", kind], limit)
        results[kind] = child.result or {"error": f"no result: {child.stderr_tail.strip()[-400:]}"}
    return results
