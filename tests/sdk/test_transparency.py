"""What the user can see: debug mode, the transparency log, the delivery record and the first-run notice."""

from __future__ import annotations

import gzip
import json
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from blindai_telemetry import InMemoryTransport, Telemetry, _config, _delivery
from blindai_telemetry import environment_variables as ev
from sdk.sinks import Sink


def test_debug_mode_prints_each_batch_and_opens_no_socket(
        make_telemetry: Callable[..., Telemetry], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], clean_telemetry_env: Path) -> None:
    connects: list[Any] = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, address: connects.append(address))
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_DEBUG, "1")
    telemetry = make_telemetry(endpoint="http://127.0.0.1:9", mode="hardware")
    telemetry.track("model_run", model_name="resnet50", duration_ms=3.0)
    assert telemetry.flush(timeout=10.0)
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[telemetry] {")]
    assert len(lines) == 1
    printed = json.loads(lines[0].removeprefix("[telemetry] "))
    assert printed["events"][0]["properties"] == {"model_name": "resnet50", "duration_ms": 3.0}
    assert connects == []
    # the log holds the same batch, marked as printed rather than sent
    (record,) = _config.read_sent_log(clean_telemetry_env)
    assert record["outcome"] == "debug" and record["payload"] == printed


def test_sent_log_holds_exactly_what_went_on_the_wire(sink: Sink, make_telemetry: Callable[..., Telemetry],
                                                     clean_telemetry_env: Path) -> None:
    telemetry = make_telemetry(endpoint=sink.url)
    telemetry.track("model_uploaded", model_name="acme-secret", model_size_bytes=10, duration_ms=2.0, ok=True)
    assert telemetry.flush(timeout=10.0)
    (record,) = _config.read_sent_log(clean_telemetry_env)
    assert record["payload"] == json.loads(gzip.decompress(sink.requests[0].raw))
    assert record["transport"] == "http" and record["endpoint"] == sink.url and record["outcome"] == "ok"
    assert record["events"] == 1
    state = _delivery.read(clean_telemetry_env)
    assert state["sent"] == 1 and state["lost"] == 0 and isinstance(state["last_sent_at"], int)
    assert state["last_error"] is None and state["endpoint"] == sink.url


def test_delivery_state_counts_lost_events_not_lost_properties(make_telemetry: Callable[..., Telemetry],
                                                               clean_telemetry_env: Path) -> None:
    telemetry = make_telemetry(transport=InMemoryTransport())
    telemetry.track("bogus")  # a whole event lost
    telemetry.track("server_started", bogus=1)  # a property lost, the event delivered
    assert telemetry.flush(timeout=10.0)
    telemetry.shutdown()
    assert (_delivery.read(clean_telemetry_env)["sent"], _delivery.read(clean_telemetry_env)["lost"]) == (1, 1)


NOTICE_MARK = "anonymous usage telemetry"


def test_first_run_notice_is_shown_once_per_install(make_telemetry: Callable[..., Telemetry],
                                                    capsys: pytest.CaptureFixture[str],
                                                    clean_telemetry_env: Path) -> None:
    for _ in range(3):  # three program runs on the same install
        telemetry = make_telemetry(transport=InMemoryTransport())
        telemetry.track("server_started")
        assert telemetry.flush(timeout=10.0)
        telemetry.shutdown()
    err = capsys.readouterr().err
    assert err.count(NOTICE_MARK) == 1
    for needle in ("BLINDAI_DISABLE_TELEMETRY=1", "DO_NOT_TRACK=1", "blindai-telemetry disable",
                   "blindai-telemetry status", "blindai-telemetry catalogue"):
        assert needle in err
    assert _config.load_user_config(clean_telemetry_env).notice_shown_at is not None


def test_notice_waits_for_the_first_batch(make_telemetry: Callable[..., Telemetry],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    make_telemetry(transport=InMemoryTransport()).flush(timeout=1.0)
    assert NOTICE_MARK not in capsys.readouterr().err


def test_no_notice_in_ci(make_telemetry: Callable[..., Telemetry], monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str], clean_telemetry_env: Path) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport)
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert NOTICE_MARK not in capsys.readouterr().err
    assert transport.events[0]["is_ci"] is True
    assert _config.load_user_config(clean_telemetry_env).notice_shown_at is None


def test_processes_sharing_an_install_add_up_their_counts(clean_telemetry_env: Path) -> None:
    server = _delivery.DeliveryLog(clean_telemetry_env, "http://127.0.0.1:9")
    worker = _delivery.DeliveryLog(clean_telemetry_env, "http://127.0.0.1:9")
    server.attempted(10, None, lost=3)
    worker.attempted(4, None, lost=2)
    server.attempted(1, None, lost=5)  # two more lost since its last write
    server.write()
    state = _delivery.read(clean_telemetry_env)
    assert (state["sent"], state["lost"]) == (15, 7)
