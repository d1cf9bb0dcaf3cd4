"""The context attached to every event, the install id, and ClientInfo."""

from __future__ import annotations

import os
import platform
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blindai_telemetry import ClientInfo, InMemoryTransport, Telemetry, _config, _context, catalogue
from blindai_telemetry import environment_variables as ev


def _one_event(telemetry: Telemetry, transport: InMemoryTransport) -> dict[str, object]:
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    return transport.events[-1]


def test_context_is_exactly_the_catalogue(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    event = _one_event(make_telemetry(transport=transport, mode="hardware"), transport)
    expected = {f.name for f in (*catalogue.ENVELOPE_FIELDS, *catalogue.CONTEXT_FIELDS)} | {"properties"}
    if _context.memory_gb() is None:
        expected.discard("memory_gb")
    assert set(event) == expected
    assert event["os_name"] == platform.system() and event["arch"] == platform.machine()
    assert event["os_release"] == platform.release()
    assert event["python_version"] == platform.python_version()
    assert event["cpu_count"] == os.cpu_count()
    assert platform.version() not in str(event)  # the kernel build string never leaves
    assert platform.node() not in str(event)


def test_memory_is_rounded_to_a_power_of_two() -> None:
    memory = _context.memory_gb()
    assert memory is not None
    assert memory == 2 ** round(__import__("math").log2(memory))


def test_clients_send_no_mode(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    event = _one_event(make_telemetry(app="blindai-client", transport=transport), transport)
    assert "mode" not in event


def test_uptime_counts_from_the_process_start_not_the_import() -> None:
    code = "import time; time.sleep(0.6); from blindai_telemetry import _context; import time as t; " \
        "print(t.time() - _context.PROCESS_START)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert 0.5 < float(out.stdout) < 30


def test_uptime_grows_and_session_is_per_process(make_telemetry: Callable[..., Telemetry]) -> None:
    transport = InMemoryTransport()
    a = make_telemetry(transport=transport)
    first = _one_event(a, transport)
    second = _one_event(a, transport)
    assert second["uptime_s"] >= first["uptime_s"] >= 0  # type: ignore[operator]
    assert first["session_id"] == second["session_id"] != a.install_id


def test_install_id_is_created_once_and_persisted(make_telemetry: Callable[..., Telemetry],
                                                  clean_telemetry_env: Path) -> None:
    first = make_telemetry(transport=InMemoryTransport())
    second = make_telemetry(transport=InMemoryTransport())
    assert first.install_id == second.install_id == _config.load_user_config(clean_telemetry_env).install_id
    assert first.install_id_persisted


def test_config_dir_argument_gives_a_distinct_install(make_telemetry: Callable[..., Telemetry],
                                                      tmp_path: Path) -> None:
    mine = make_telemetry(transport=InMemoryTransport())
    other = make_telemetry(transport=InMemoryTransport(), config_dir=tmp_path / "fleet-1")
    assert mine.install_id != other.install_id
    assert _config.load_user_config(tmp_path / "fleet-1").install_id == other.install_id


@pytest.fixture(params=["read-only", "under-a-file"])
def unwritable_dir(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """A config dir nothing can be written to: read-only (as in a locked-down container), or below a regular
    file (which even root cannot write to, so the test also runs as root)."""
    if request.param == "read-only":
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            pytest.skip("root writes to read-only directories")
        directory = tmp_path / "ro"
        directory.mkdir()
        directory.chmod(stat.S_IRUSR | stat.S_IXUSR)
        yield directory
        directory.chmod(stat.S_IRWXU)
    else:
        (tmp_path / "file").write_text("")
        yield tmp_path / "file" / "config"


def test_unwritable_config_dir_keeps_the_id_in_memory(make_telemetry: Callable[..., Telemetry],
                                                      unwritable_dir: Path) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, config_dir=unwritable_dir)
    assert telemetry.install_id and not telemetry.install_id_persisted
    assert not unwritable_dir.exists() or list(unwritable_dir.iterdir()) == []
    telemetry.track("model_run", model_name="acme-private")
    assert telemetry.flush(timeout=10.0)  # works, hashing key in memory too
    assert transport.events[0]["install_id"] == telemetry.install_id
    assert transport.events[0]["properties"]["model_name"].startswith("h:")


def test_client_info_round_trips_and_ignores_junk(make_telemetry: Callable[..., Telemetry]) -> None:
    info = make_telemetry(app="blindai-client", transport=InMemoryTransport()).client_info()
    assert info.install_id and info.app_version == "0.6.3" and info.user_agent == "blindai-client"
    assert info.os_release == platform.release()
    assert ClientInfo.from_dict(info.to_dict()) == info
    assert ClientInfo.from_dict({**info.to_dict(), "hostname": "box", "arch": 3}) == \
        ClientInfo(**{**info.to_dict(), "arch": None})
    assert ClientInfo.from_dict("nonsense") == ClientInfo()


def test_server_attaches_the_clients_facts(make_telemetry: Callable[..., Telemetry], tmp_path: Path) -> None:
    client = make_telemetry(app="blindai-client", transport=InMemoryTransport(), config_dir=tmp_path / "client")
    transport = InMemoryTransport()
    server = make_telemetry(transport=transport, mode="simulation")
    wire = client.client_info().to_dict()  # what the reference client puts in its request
    server.track("model_run", client=ClientInfo.from_dict(wire), model_name="resnet50", duration_ms=1.0)
    server.track("model_deleted", client=wire, model_name="resnet50")
    assert server.flush(timeout=10.0)
    for event in transport.events:
        assert event["properties"]["client_install_id"] == client.install_id != server.install_id
        assert event["properties"]["client_user_agent"] == "blindai-client"


@pytest.mark.parametrize(("argument", "env", "expected"), [
    (None, None, 2.0), (None, "0.5", 0.5), (0.25, "0.5", 0.25), (None, "soon", 2.0), (None, "-1", 2.0),
])
def test_flush_interval_is_resolved_argument_then_environment_then_default(
        argument: float | None, env: str | None, expected: float, monkeypatch: pytest.MonkeyPatch,
        make_telemetry: Callable[..., Telemetry]) -> None:
    if env is not None:
        monkeypatch.setenv(ev.BLINDAI_TELEMETRY_FLUSH_INTERVAL, env)
    telemetry = make_telemetry(transport=InMemoryTransport(), flush_interval=argument)
    assert telemetry.flush_interval == expected


def test_unknown_model_name_policy_falls_back_to_hashed_rather_than_raising(
        make_telemetry: Callable[..., Telemetry], caplog: pytest.LogCaptureFixture) -> None:
    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, model_names="plaintext")
    telemetry.track("model_run", model_name="acme-private")
    assert telemetry.flush(timeout=10.0)
    assert transport.events[0]["properties"]["model_name"].startswith("h:")
    assert "model_names" in caplog.text
