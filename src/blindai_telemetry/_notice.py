"""The first-run notice (issue 6, SDK side): told once per install, on stderr, before the first batch leaves."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TextIO

from blindai_telemetry import _config

NOTICE = """\
[telemetry] BlindAI collects anonymous usage telemetry to see which features are used and how fast they are.
[telemetry]   Sent: event names (server started, model uploaded/run), durations, sizes, versions, OS and CPU
[telemetry]   facts, and a random install id. Never sent: IP addresses, host or user names, e-mail addresses,
[telemetry]   URLs, file paths, models, inputs or outputs (private model names are hashed).
[telemetry]   Disable: `blindai-telemetry disable`, or set BLINDAI_DISABLE_TELEMETRY=1 or DO_NOT_TRACK=1.
[telemetry]   Every field and why: `blindai-telemetry catalogue`; what was sent: `blindai-telemetry inspect`;
[telemetry]   this machine's setting and install id: `blindai-telemetry status`.
"""


def show_notice_once(directory: Path, *, is_ci: bool, stream: TextIO | None = None) -> bool:
    """Print the notice unless this install has seen it (or runs in CI); True when it was printed.

    When the config directory is read-only the notice is printed by every process, which is the honest
    failure: better told twice than never.
    """
    if is_ci:
        return False
    cfg = _config.load_user_config(directory)
    if cfg.notice_shown_at is not None:
        return False
    try:
        (stream or sys.stderr).write(NOTICE)
    except (OSError, ValueError):
        return False
    cfg.notice_shown_at = int(time.time() * 1000)
    _config.save_user_config(cfg, directory)
    return True
