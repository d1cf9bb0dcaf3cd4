"""BLINDAI_DISABLE_TELEMETRY=1 on the server: inference works, nothing arrives, no connection to the collector."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from blindai_telemetry import environment_variables as ev
from blindai_telemetry.reference.client import connect
from blindai_telemetry.reference.models import linear_model, sample_input
from blindai_telemetry.reference.server import create_server_app, server_telemetry
from blindai_telemetry.reference.threaded import ThreadedServer


@pytest.mark.parametrize(("variable", "value"), [
    (ev.BLINDAI_DISABLE_TELEMETRY, "1"), (ev.BLINDAI_DISABLE_TELEMETRY, ""), (ev.BLINDAI_DISABLE_TELEMETRY, "yes"),
    (ev.DO_NOT_TRACK, "1"),
])
def test_disabled_server_sends_nothing_and_never_connects(
    collector: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    connected: list[Any] = []
    real_connect = socket.socket.connect

    def spy(self: socket.socket, address: Any) -> Any:
        connected.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", spy)
    server_tel = server_telemetry("simulation", "0.6.3", collector.url, tmp_path / "server")
    assert server_tel.install_id is None
    x = sample_input("linear", 3)
    with ThreadedServer(create_server_app(server_tel)) as server:
        with connect(server.url, endpoint=collector.url, config_dir=tmp_path / "client") as client:
            model_id = client.upload_model(linear_model(), name="resnet50")
            outputs = client.run_model(model_id, x)
            client.delete_model(model_id)
        assert server_tel.flush(timeout=1.0)
    server_tel.shutdown(timeout=1.0)
    seen = list(connected)  # before the test itself asks the collector below

    assert outputs["y"].shape == (3, 3) and np.all(outputs["y"] >= 0)  # inference kept working
    ports = [address[1] for address in seen if isinstance(address, tuple)]
    assert server.port in ports  # the spy saw the client's connections...
    assert collector.port not in ports  # ...and none to the collector
    assert collector.summary()["events"] == 0
    assert not (tmp_path / "server").exists() and not (tmp_path / "client").exists()  # no file written


def test_disabled_server_process_sends_nothing(collector: Any, tmp_path: Path) -> None:
    """The same with the variable set on a separate server process only: the client still reports its own
    `client_connected`, and the server's side of the traffic never reaches the collector."""
    env = dict(os.environ, **{ev.BLINDAI_DISABLE_TELEMETRY: "1"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "blindai_telemetry.reference.server", "--port", "0", "--endpoint", collector.url,
         "--config-dir", str(tmp_path / "server")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        with connect(url, endpoint=collector.url, config_dir=tmp_path / "client") as client:
            model_id = client.upload_model(linear_model(), name="resnet50")
            assert client.run_model(model_id, sample_input("linear"))["y"].shape == (1, 3)
            assert client.telemetry.flush(timeout=10.0)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
    rows = collector.store.rows(limit=100)
    assert [r["event"] for r in rows] == ["client_connected"]
    assert not (tmp_path / "server").exists()
