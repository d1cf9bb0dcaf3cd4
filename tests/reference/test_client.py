"""The reference client: connect/upload/run/delete, its own `client_connected`, and its opt-out."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from blindai_telemetry import InMemoryTransport, Telemetry
from blindai_telemetry.reference.client import ServerError, client_telemetry, connect
from blindai_telemetry.reference.models import identity_model, sample_input

Start = Callable[..., Any]


def test_connect_tracks_client_connected_through_the_clients_own_sdk(
    start_server: Start, client_tel: Telemetry, client_transport: InMemoryTransport
) -> None:
    server = start_server()
    with connect(server.url, telemetry=client_tel) as client:
        assert client.server_info == {"server": "blindai-reference", "version": "0.6.3", "mode": "simulation"}
    assert client_tel.flush(timeout=5.0)
    (connected,) = client_transport.events
    assert connected["event"] == "client_connected"
    assert connected["app"] == "blindai-client" and connected["app_version"] == "0.6.2"
    assert connected["install_id"] == client_tel.install_id
    assert connected.get("mode") is None  # clients have no server mode


def test_upload_from_a_path_and_run_with_numpy_and_lists(start_server: Start, client_tel: Telemetry,
                                                         tmp_path: Path) -> None:
    server = start_server()
    path = tmp_path / "identity.onnx"
    path.write_bytes(identity_model())
    x = sample_input("identity", batch=3, seed=1)
    with connect(server.url, telemetry=client_tel) as client:
        model_id = client.upload_model(path, name="identity")
        np.testing.assert_array_equal(client.run_model(model_id, x)["y"], x)
        np.testing.assert_array_equal(client.run_model(model_id, [x.tolist()])["y"], x)
        np.testing.assert_array_equal(client.run_model(model_id, {"x": x})["y"], x)


def test_refusals_raise_server_error_with_the_servers_word(start_server: Start, client_tel: Telemetry) -> None:
    server = start_server()
    with connect(server.url, telemetry=client_tel) as client:
        with pytest.raises(ServerError) as invalid:
            client.upload_model(b"not onnx", name="x")
        with pytest.raises(ServerError) as missing:
            client.delete_model("no-such-id")
    assert (invalid.value.status, invalid.value.kind) == (400, "invalid_model")
    assert (missing.value.status, missing.value.kind) == (404, "model_not_found")


def test_a_client_that_opted_out_sends_no_facts_and_no_event(start_server: Start, tmp_path: Path) -> None:
    """With the client's telemetry disabled, the server still serves it but learns nothing about it."""
    server = start_server()
    transport = InMemoryTransport()
    disabled = client_telemetry(config_dir=tmp_path / "client", transport=transport, enabled=False)
    with connect(server.url, telemetry=disabled) as client:
        model_id = client.upload_model(identity_model(), name="gpt2")
        assert client.run_model(model_id, sample_input("identity"))["y"].shape == (1, 8)
    assert disabled.flush(timeout=1.0) and transport.payloads == []
    assert not (tmp_path / "client").exists()  # a disabled SDK writes no file
    for event in server.events():
        assert not [k for k in event["properties"] if k.startswith("client_")]


def test_connect_honours_the_environment_kill_switch(start_server: Start, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server = start_server()  # its telemetry was made before the variable is set, so it still reports
    monkeypatch.setenv("BLINDAI_DISABLE_TELEMETRY", "1")
    with connect(server.url, config_dir=tmp_path / "client") as client:
        assert client.telemetry.install_id is None
        client.upload_model(identity_model(), name="gpt2")
    (uploaded,) = server.events("model_uploaded")
    assert "client_install_id" not in uploaded["properties"]


def test_connect_to_nothing_raises_and_leaves_no_thread_running(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
    before = set(threading.enumerate())
    with pytest.raises(httpx.ConnectError):
        connect(url, config_dir=tmp_path / "client", endpoint=url, timeout=2.0)
    deadline = time.monotonic() + 5.0
    while set(threading.enumerate()) - before and time.monotonic() < deadline:
        time.sleep(0.01)  # the SDK worker ends after shutdown(); bounded by the deadline
    assert set(threading.enumerate()) - before == set()
