"""What the user can see locally of what the worker did: the transparency log and the state file
(`blindai-telemetry inspect` and `status` read them; see `_config`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from blindai_telemetry import _config
from blindai_telemetry._transport import SendResult, Transport


class LocalRecords:
    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self._drops_recorded = 0  # of this process's drops, how many state.json already counts

    def attempt(self, transport: Transport, payload: dict[str, Any], body: bytes, result: SendResult) -> None:
        """Append one attempt to the transparency log, showing what went out: the batch itself when the
        transport sends it as it is (its bytes are `dumps(payload)`), else the transport's own encoding,
        read back from the very bytes it sent."""
        native = type(transport).encode is Transport.encode
        _config.append_sent_log({
            "sent_at": int(time.time() * 1000), "transport": transport.name, "endpoint": transport.endpoint,
            "outcome": "debug" if transport.name == "debug" else result.outcome.value, "status": result.status,
            "events": len(payload.get("events", [])), "payload": payload if native else json.loads(body),
        }, self.config_dir)

    def delivered(self, drops_so_far: int) -> None:
        """After a delivery: when it happened, and the install's drop total (several processes may share the
        config directory, so each adds what it dropped since its last write rather than its own total)."""
        state = _config.read_state(self.config_dir)
        previous = state.get("dropped_total")
        total = (previous if isinstance(previous, int) else 0) + drops_so_far - self._drops_recorded
        if _config.write_state({"last_sent_at": int(time.time() * 1000), "dropped_total": total}, self.config_dir):
            self._drops_recorded = drops_so_far
