"""The transparency log: every batch that left the process, as sent (`blindai-telemetry inspect` reads it)."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from blindai_telemetry import _config
from blindai_telemetry._transport import SendResult, Transport, dumps


class LocalRecords:
    def __init__(self, config_dir: Path) -> None:
        self.config_dir = config_dir

    def attempt(self, transport: Transport, events: int, body: bytes, result: SendResult) -> None:
        """Append one attempt to the transparency log, showing what went out: the very bytes the transport
        sent (the batch itself for the native format), spliced in rather than serialised a second time — on a
        busy server that second serialisation was a tenth of the worker's time. Never raises: a log that
        cannot be written must not make a delivered batch look undelivered."""
        meta = {"sent_at": int(time.time() * 1000), "transport": transport.name, "endpoint": transport.endpoint,
                "outcome": "debug" if transport.name == "debug" else result.outcome.value,
                "status": result.status, "events": events}
        sent = body
        if type(transport).encode is not Transport.encode:  # another transport's encoding: spliced only when JSON
            try:
                json.loads(body)
            except ValueError:
                sent = b"null"
        with contextlib.suppress(Exception):  # seam: the log is for the user's eyes; delivery goes on without it
            _config.append_sent_line([dumps(meta)[:-1], b',"payload":', sent, b"}"], self.config_dir)
