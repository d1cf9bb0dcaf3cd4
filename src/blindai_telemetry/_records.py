"""What the user can see locally of what the worker did: the transparency log and the state file
(`blindai-telemetry inspect` and `status` read them; see `_config`)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

from blindai_telemetry import _config
from blindai_telemetry._transport import SendResult, Transport, dumps


class LocalRecords:
    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir
        self._drops_recorded = 0  # of this process's drops, how many state.json already counts

    def attempt(self, transport: Transport, payload: dict[str, Any], body: bytes, result: SendResult) -> None:
        """Append one attempt to the transparency log, showing what went out: the very bytes the transport
        sent (the batch itself for the native format), spliced in rather than serialised a second time — on a
        busy server that second serialisation was a tenth of the worker's time. Never raises: a log that
        cannot be written must not make a delivered batch look undelivered."""
        meta = {"sent_at": int(time.time() * 1000), "transport": transport.name, "endpoint": transport.endpoint,
                "outcome": "debug" if transport.name == "debug" else result.outcome.value,
                "status": result.status, "events": len(payload.get("events", []))}
        try:
            sent = body.decode("utf-8")
            if type(transport).encode is not Transport.encode:
                json.loads(sent)  # another transport's encoding: spliced only when it is JSON
        except ValueError:
            sent = "null"
        with contextlib.suppress(Exception):  # seam: the log is for the user's eyes; delivery goes on without it
            _config.append_sent_line(dumps(meta).decode("utf-8")[:-1] + ',"payload":' + sent + "}",
                                     self.config_dir)

    def delivered(self, drops_so_far: int) -> None:
        """After a delivery: when it happened, and the install's drop total (several processes may share the
        config directory, so each adds what it dropped since its last write rather than its own total)."""
        state = _config.read_state(self.config_dir)
        previous = state.get("dropped_total")
        total = (previous if isinstance(previous, int) else 0) + drops_so_far - self._drops_recorded
        if _config.write_state({"last_sent_at": int(time.time() * 1000), "dropped_total": total}, self.config_dir):
            self._drops_recorded = drops_so_far
