"""Exit and fork: a process exits within a bound whatever the endpoint does; a forked child delivers its own
events (Gunicorn `preload_app`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from blindai_telemetry import Telemetry
from sdk.sinks import Sink, black_hole

EXIT_SCRIPT = textwrap.dedent("""
    import sys, blindai_telemetry
    t = blindai_telemetry.Telemetry("blindai-server", "0.6.3", endpoint=sys.argv[1])
    for i in range(1000):
        t.track("model_run", model_name="resnet50", duration_ms=1.0)
    t.flush(timeout=0.2)  # a send is now in flight, stuck on the endpoint
    print("done", flush=True)
""")


def _run_exit_script(url: str, tmp_path: Path) -> float:
    env = {**os.environ, "BLINDAI_TELEMETRY_CONFIG_DIR": str(tmp_path / "cfg"), "CI": "1"}
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, url], capture_output=True, text=True, timeout=60,
                         env=env)
    elapsed = time.monotonic() - started
    assert out.returncode == 0, out.stderr
    assert out.stdout == "done\n"
    return elapsed


def test_exit_with_a_black_holed_endpoint_is_bounded(tmp_path: Path) -> None:
    """The endpoint accepts connections and never answers: exit still takes about shutdown_timeout (1 s).
    Generous bound here (interpreter start included); the tight one is measured in benchmarks/."""
    with black_hole() as url:
        assert _run_exit_script(url, tmp_path) < 5.0


def test_exit_with_the_endpoint_down_is_bounded(tmp_path: Path) -> None:
    with black_hole() as url:
        pass
    assert _run_exit_script(url, tmp_path) < 5.0


def test_shutdown_returns_within_its_timeout_while_a_send_hangs(
        make_telemetry: Callable[..., Telemetry]) -> None:
    with black_hole() as url:
        telemetry = make_telemetry(endpoint=url)
        telemetry.track("server_started")
        telemetry.flush(timeout=0.2)
        started = time.monotonic()
        assert telemetry.shutdown(timeout=0.5) is False
        assert time.monotonic() - started < 1.0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")  # Python 3.12+: forking is the point
def test_forked_child_delivers_its_own_events(sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    telemetry = make_telemetry(endpoint=sink.url, flush_interval=60)
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    parent_session = telemetry.session_id
    telemetry.track("model_deleted", model_name="resnet50")  # queued in the parent, not yet sent
    pid = os.fork()
    if pid == 0:  # child: its own queue and worker (the parent's queued event is not duplicated)
        code = 1
        try:
            telemetry.track("model_run", model_name="resnet50", duration_ms=2.0)
            code = 0 if telemetry.flush(timeout=10.0) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert telemetry.flush(timeout=10.0)
    events = sink.events()
    by_name = {e["event"]: e for e in events}
    assert sorted(by_name) == ["model_deleted", "model_run", "server_started"]
    assert len(events) == 3
    assert by_name["model_run"]["session_id"] != parent_session  # new session in the child
    assert by_name["model_deleted"]["session_id"] == parent_session
    assert by_name["model_run"]["install_id"] == telemetry.install_id


def test_events_of_a_discarded_telemetry_are_flushed_at_exit(sink: Sink, tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import gc, sys, blindai_telemetry
        t = blindai_telemetry.Telemetry("blindai-server", "0.6.3", endpoint=sys.argv[1], flush_interval=60)
        t.track("server_stopped")
        del t
        gc.collect()
    """)
    env = {**os.environ, "BLINDAI_TELEMETRY_CONFIG_DIR": str(tmp_path / "cfg"), "CI": "1"}
    subprocess.run([sys.executable, "-c", code, sink.url], check=True, timeout=60, env=env)
    assert [e["event"] for e in sink.events()] == ["server_stopped"]
