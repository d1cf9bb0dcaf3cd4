"""`blindai-telemetry demo` as a user runs it: a fleet reporting within seconds, Ctrl-C stops it cleanly, and the
user's own telemetry settings are left alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from blindai_telemetry import environment_variables as ev

CLI = str(Path(sys.executable).with_name("blindai-telemetry"))
DAY_MS = 86_400_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _summary(port: int) -> dict[str, Any]:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/api/v1/summary", timeout=5.0, trust_env=False)
        return dict(response.json()) if response.status_code == 200 else {}
    except httpx.HTTPError:
        return {}  # not listening yet


def _run_demo(args: list[str], tmp_path: Path, until: Any, timeout: float) -> tuple[dict[str, Any], float, str]:
    """Start the demo, poll its summary until `until(summary)` (bounded), then Ctrl-C it. Returns the last
    summary, the seconds it took to satisfy `until`, and stdout; asserts a clean exit within 30 s."""
    port = _free_port()
    # TMPDIR in the test's directory: the demo's own temporary directory must be gone after it exits. HOME too:
    # nothing may be left in the user's home (onnxruntime, for one, keeps a device id there unless told not to).
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(TMPDIR=str(tmp_path / "tmp"), HOME=str(tmp_path / "home"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "home").mkdir()
    proc = subprocess.Popen([CLI, "demo", "--port", str(port), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    started = time.monotonic()
    summary: dict[str, Any] = {}
    try:
        while time.monotonic() - started < timeout and proc.poll() is None:
            summary = _summary(port)
            if summary and until(summary):
                break
            time.sleep(0.2)  # polling the demo's collector, bounded by `timeout`
        took = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError(f"the demo did not stop within 30 s of Ctrl-C:\n{err}") from None
    assert proc.returncode == 0, err
    assert f"http://127.0.0.1:{port}/" in out
    assert list((tmp_path / "tmp").iterdir()) == []
    assert list((tmp_path / "home").rglob("*")) == []
    return summary, took, out


def test_demo_shows_two_installs_within_seconds_and_stops_on_ctrl_c(tmp_path: Path,
                                                                     clean_telemetry_env: Path) -> None:
    db = tmp_path / "demo.duckdb"
    summary, took, _ = _run_demo(["--db", str(db), "--seed-days", "0", "--servers", "3", "--clients", "2"],
                                 tmp_path, lambda s: s.get("installs", 0) >= 2, timeout=60.0)
    assert summary.get("installs", 0) >= 2, summary
    print(f"demo: {summary['installs']} installs visible {took:.1f} s after start")

    assert not clean_telemetry_env.exists()  # the user's config dir: never read, never written
    with duckdb.connect(str(db), read_only=True) as con:
        servers = con.execute(
            "SELECT mode, count(DISTINCT install_id), count(*) FILTER (WHERE event = 'server_stopped')"
            " FROM events WHERE app = 'blindai-server' GROUP BY mode ORDER BY mode").fetchall()
        clients = con.execute("SELECT count(DISTINCT install_id) FROM events WHERE app = 'blindai-client'").fetchone()
        sources = con.execute("SELECT DISTINCT source FROM events").fetchall()
    # three servers, one per mode, each with its own install id, each delivering `server_stopped` on Ctrl-C
    assert servers == [("dcsv3", 1, 1), ("hardware", 1, 1), ("simulation", 1, 1)]
    assert clients == (2,)
    assert sources == [("native",)]


def test_demo_seeds_history_marked_as_seeded(tmp_path: Path) -> None:
    summary, _, out = _run_demo(["--seed-days", "2", "--servers", "1", "--clients", "1"], tmp_path,
                                lambda s: s.get("seeded", 0) > 0 and s["events"] > s["seeded"], timeout=60.0)
    assert summary["seeded"] > 0 and summary["events"] > summary["seeded"], summary
    assert "Seeded 2 days" in out


def test_demo_honours_the_users_kill_switch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With BLINDAI_DISABLE_TELEMETRY set, the fleet still runs but sends nothing: after Ctrl-C (when every
    enabled SDK would have delivered what it held) the DuckDB file holds the seeded history only."""
    db = tmp_path / "demo.duckdb"
    monkeypatch.setenv(ev.BLINDAI_DISABLE_TELEMETRY, "1")
    today_before_ms = int(time.time() * 1000) // DAY_MS * DAY_MS  # the demo seeds between these two days' starts
    _, _, out = _run_demo(["--db", str(db), "--seed-days", "1", "--servers", "1", "--clients", "1"],
                                tmp_path, lambda s: s.get("seeded", 0) > 0, timeout=60.0)
    assert "Telemetry is disabled here" in out
    today_after_ms = int(time.time() * 1000) // DAY_MS * DAY_MS
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT DISTINCT source FROM events").fetchall() == [("seed",)]
        # The seeded day is yesterday, UTC: today is left to what the fleet is observed doing.
        first, last = con.execute("SELECT epoch_ms(min(time)), epoch_ms(max(time)) FROM events").fetchone() or (0, 0)
    assert today_before_ms - DAY_MS <= first <= last < today_after_ms


def test_demo_explains_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run([CLI, "demo", "--port", str(port), "--seed-days", "0"], capture_output=True,
                                text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "--port 0" in result.stderr
