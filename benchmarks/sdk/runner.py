"""Run one child measurement (`benchmarks.sdk.child`) in a fresh process with a hard time limit, and read its result."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

#: Variables that would change what the SDKs do (opt-outs, a redirected endpoint, debug mode, proxies).
_CLEARED = ("BLINDAI_DISABLE_TELEMETRY", "DO_NOT_TRACK", "BLINDAI_TELEMETRY_ENDPOINT", "BLINDAI_TELEMETRY_DEBUG",
            "BLINDAI_TELEMETRY_FLUSH_INTERVAL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy",
            "https_proxy", "all_proxy", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE")


@dataclass
class ChildRun:
    """What one child process did: its result line, when its work ended, when it was gone, and whether we killed it."""

    result: dict[str, Any] | None
    killed: bool
    returncode: int | None
    done_at: float | None  # time.monotonic() when the child finished its work (exit scenario)
    exited_at: float  # time.monotonic() when the parent saw the process end
    stderr_tail: str

    @property
    def exit_seconds(self) -> float | None:
        """Seconds from the end of the work to the end of the process; None when it was killed or never got there."""
        if self.killed or self.done_at is None:
            return None
        return self.exited_at - self.done_at


def child_env(config_dir: str) -> dict[str, str]:
    """The child's environment: our own config dir (never the user's), no opt-out, no proxy, repo importable."""
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED and k.upper() not in _CLEARED}
    for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "TRAVIS", "JENKINS_URL", "TF_BUILD"):
        env.pop(name, None)
    env["BLINDAI_TELEMETRY_CONFIG_DIR"] = config_dir
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_child(scenario: str, sdk: str, endpoint: str, options: list[str], limit: float,
              after_done: float | None = None, on_result: Callable[[dict[str, Any]], None] | None = None) -> ChildRun:
    """Run `python -m benchmarks.sdk.child scenario sdk endpoint *options` in its own config dir.

    The child is killed `limit` seconds after it started, or `after_done` seconds after it reported the end
    of its work (the exit scenario), whichever comes first. When its result arrives, `on_result` runs while
    the child is still alive (its SDK may still be sending); closing its stdin afterwards lets it go.
    """
    with tempfile.TemporaryDirectory(prefix="bench-telemetry-") as config_dir, tempfile.TemporaryFile() as stderr:
        command = [sys.executable, "-m", "benchmarks.sdk.child", scenario, sdk, endpoint, *options]
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=REPO, env=child_env(config_dir), stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=stderr)
        lines: list[str] = []
        reader = threading.Thread(target=_read_lines, args=(process, lines), daemon=True)
        reader.start()
        ended: list[float] = []

        def wait() -> None:
            # A blocking waitpid on its own thread sees the exit as it happens (Popen.wait(timeout) polls).
            process.wait()
            ended.append(time.monotonic())

        waiter = threading.Thread(target=wait, daemon=True)
        waiter.start()
        killed = False
        result: dict[str, Any] | None = None
        while waiter.is_alive():
            if result is None and (result := _result(lines)) is not None:
                if on_result is not None:
                    on_result(result)
                _close(process)
            done_at = _done_at(lines)
            now = time.monotonic()
            if now > started + limit or (after_done is not None and done_at is not None
                                         and now > done_at + after_done):
                process.kill()
                killed = True
                waiter.join()
                break
            waiter.join(0.02)
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
        stderr.seek(0)
        tail = stderr.read()[-2000:].decode(errors="replace")
        _close(process)
    return ChildRun(result or _result(lines), killed, process.returncode, _done_at(lines), ended[0], tail)


def _close(process: subprocess.Popen[bytes]) -> None:
    if process.stdin is not None and not process.stdin.closed:
        with contextlib.suppress(OSError):
            process.stdin.close()


def _result(lines: list[str]) -> dict[str, Any] | None:
    for line in list(lines):
        if line.startswith("RESULT "):
            parsed: dict[str, Any] = json.loads(line[len("RESULT "):])
            return parsed
    return None


def _done_at(lines: list[str]) -> float | None:
    for line in list(lines):
        if line.startswith("DONE "):
            return float(line.split()[1])
    return None


def _read_lines(process: subprocess.Popen[bytes], lines: list[str]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        lines.append(raw.decode(errors="replace").strip())
