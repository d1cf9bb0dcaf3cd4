"""Batches for the ingestion benchmark: 100 realistic events each, unique ids, gzip as the senders send them.

Native batches (`/v1/batch`, as the SDK sends them) and the same events in Amplitude's HTTP V2 shape (`/2/httpapi`).
"""

from __future__ import annotations

import gzip
import random
import time
import uuid

import msgspec

EVENTS_PER_BATCH = 100
#: Enough installs that the per-install rate limit (1,000 events/s each) never binds at the target rate.
INSTALLS = 5_000
_MODELS = ("resnet50", "bert-base-uncased", "mobilenetv2", "h:3f2a9c0d1e4b5a67")


def _event(rng: random.Random, install: str, now_ms: int) -> dict[str, object]:
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "event": "model_run",
        "time": now_ms - rng.randrange(60_000), "install_id": install, "session_id": install[:8] + "-session",
        "app": "blindai-server", "app_version": "0.6.3", "os_name": "Linux", "os_release": "6.1.0",
        "arch": "x86_64", "python_version": "3.11.7", "mode": "simulation", "uptime_s": rng.random() * 3600,
        "cpu_count": 8, "memory_gb": 32, "is_ci": False,
        "properties": {"model_name": rng.choice(_MODELS), "duration_ms": rng.random() * 50,
                       "input_bytes": rng.randrange(1, 1 << 20), "ok": True,
                       "client_install_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                       "client_app_version": "0.6.3", "client_os_name": "Linux", "client_arch": "x86_64",
                       "client_user_agent": "blindai-python"},
    }


#: The ingestion path of each format the benchmark sends.
PATHS = {"native": "/v1/batch", "amplitude": "/2/httpapi"}
_AMPLITUDE_STANDARD = {"app_version": "app_version", "os_name": "os_name", "os_release": "os_version"}


def _amplitude(event: dict[str, object]) -> dict[str, object]:
    """The same event as an Amplitude SDK sends it: ids and time in its envelope, the rest as properties."""
    event = dict(event)
    out: dict[str, object] = {"event_type": event.pop("event"), "user_id": event.pop("install_id"),
                              "insert_id": event.pop("event_id"), "time": event.pop("time")}
    for name, standard in _AMPLITUDE_STANDARD.items():
        out[standard] = event.pop(name)
    out["event_properties"] = event.pop("properties")
    out["user_properties"] = event
    return out


def make_batches(count: int, seed: int, fmt: str = "native") -> list[bytes]:
    """`count` gzip batches in `fmt` (native or amplitude); each batch comes from one install, as the SDK sends."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    out = []
    for _ in range(count):
        install = str(uuid.UUID(int=rng.randrange(INSTALLS) + (seed << 64), version=4))
        events = [_event(rng, install, now_ms) for _ in range(EVENTS_PER_BATCH)]
        if fmt == "amplitude":
            body = msgspec.json.encode({"api_key": "bench", "events": [_amplitude(e) for e in events]})
        else:
            body = msgspec.json.encode({"schema_version": 1, "sent_at": now_ms, "events": events})
        out.append(gzip.compress(body, 6))
    return out
