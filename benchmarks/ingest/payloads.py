"""Native batches for the ingestion benchmark: 100 realistic events each, unique ids, gzip as the SDK sends them."""

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


def make_batches(count: int, seed: int) -> list[bytes]:
    """`count` gzip native batches; each batch comes from one install, as the SDK sends."""
    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    out = []
    for _ in range(count):
        install = str(uuid.UUID(int=rng.randrange(INSTALLS) + (seed << 64), version=4))
        events = [_event(rng, install, now_ms) for _ in range(EVENTS_PER_BATCH)]
        body = msgspec.json.encode({"schema_version": 1, "sent_at": now_ms, "events": events})
        out.append(gzip.compress(body, 6))
    return out
