"""The soak's fleet process: the demo's reference servers and clients, plus one install tracking at a steady rate.

Run as `python -m benchmarks.soak.fleet URL ROOT SECONDS RATE SERVERS CLIENTS` by `benchmarks.soak`, in its own
process so that its RSS is measured apart from the collector's and the driver's. At the end it stops the fleet
(every SDK shut down, delivering what it holds) and prints one JSON line: the SDK counters summed over every
install (`enqueued`, `sent`, `dropped` by reason, `queued` still held) and the requests the fleet made.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from blindai_telemetry import Telemetry
from blindai_telemetry.cli.demo import _isolate
from blindai_telemetry.reference.fleet import Fleet, _simulated_install, start_servers, start_traffic
from blindai_telemetry.reference.server import server_telemetry

#: Seconds the fleet's SDKs get at the end to deliver what they still hold (the collector is up: it takes less).
SHUTDOWN_TIMEOUT = 10.0


def _steady(telemetry: Telemetry, rate: float, stop: threading.Event) -> None:
    """Track `model_run` at `rate` events/s, paced against the clock (no drift), until `stop`."""
    started = time.monotonic()
    sent = 0
    while not stop.is_set():
        due = int((time.monotonic() - started) * rate)
        for _ in range(due - sent):
            telemetry.track("model_run", model_name="resnet50", duration_ms=3.5, input_bytes=4096, ok=True)
        sent = max(sent, due)
        stop.wait(0.05)


def _totals(installs: list[Telemetry]) -> dict[str, Any]:
    out: dict[str, Any] = {"installs": len(installs), "enqueued": 0, "sent": 0, "queued": 0, "pending_batches": 0}
    dropped: Counter[str] = Counter()
    for telemetry in installs:
        stats = telemetry.stats()
        for key in ("enqueued", "sent", "queued", "pending_batches"):
            out[key] += stats.get(key, 0)
        dropped.update(stats.get("dropped", {}))
    out["dropped"] = dict(dropped)
    return out


def run(endpoint: str, root: Path, seconds: float, rate: float, servers: int, clients: int) -> dict[str, Any]:
    _isolate(root, endpoint)  # the demo's own isolation: config dirs under `root`, reporting only to `endpoint`
    fleet = Fleet()
    steady = server_telemetry("simulation", "0.6.3", endpoint, _simulated_install(root / "steady"))
    stop = threading.Event()
    pacer = threading.Thread(target=_steady, args=(steady, rate, stop), name="soak-steady", daemon=True)
    try:
        start_servers(fleet, servers, root / "servers", endpoint)
        start_traffic(fleet, clients, root / "clients", endpoint)
        pacer.start()
        time.sleep(seconds)
    finally:
        stop.set()
        if pacer.is_alive():
            pacer.join(5)
        fleet.stop(timeout=SHUTDOWN_TIMEOUT)
        steady.shutdown(timeout=SHUTDOWN_TIMEOUT)
    installs = [s.telemetry for s in fleet.servers] + fleet.clients + [steady]
    return {**_totals(installs), "requests": fleet.totals()}


def main() -> None:
    url, root, seconds, rate, servers, clients = sys.argv[1:7]
    result = run(url, Path(root), float(seconds), float(rate), int(servers), int(clients))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
