"""`delete-my-data` when there is nothing to delete, no collector, or the wrong server: clear words, exit 1."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from blindai_telemetry import _config
from blindai_telemetry import environment_variables as ev

from ._helpers import Invoke, closed_port_url


@pytest.fixture
def plain_web_server(tmp_path: Path) -> Iterator[str]:
    """A real HTTP server that is not a collector (serves an empty directory: 404 / 501 to everything)."""
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *a: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_nothing_to_delete_without_an_install_id(invoke: Invoke, clean_telemetry_env: Path) -> None:
    assert "nothing to delete" in invoke("delete-my-data", "--yes").stdout
    assert not clean_telemetry_env.exists()


def test_unreachable_collector_names_the_url_and_what_to_do(invoke: Invoke) -> None:
    _config.get_or_create_install_id()
    url = closed_port_url()
    result = invoke("delete-my-data", "--yes", "--endpoint", url, "--timeout", "2", expect=1)
    assert f"Could not reach the collector at {url}/v1/deletions" in result.stderr
    assert "Nothing was deleted. Try again later" in result.stderr
    assert "--endpoint" in result.stderr and ev.BLINDAI_TELEMETRY_ENDPOINT in result.stderr


def test_endpoint_variable_is_used_when_no_option(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    _config.get_or_create_install_id()
    url = closed_port_url()
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_ENDPOINT, url)
    assert url in invoke("delete-my-data", "--yes", "--timeout", "2", expect=1).stderr


def test_endpoint_from_the_transparency_log(invoke: Invoke) -> None:
    _config.get_or_create_install_id()
    url = closed_port_url()
    _config.append_sent_log({"sent_at": 1, "transport": "http", "endpoint": url, "outcome": "ok", "events": 0,
                             "payload": {"events": []}})
    assert f"{url}/v1/deletions" in invoke("delete-my-data", "--yes", "--timeout", "2", expect=1).stderr


def test_no_known_collector_asks_for_endpoint(invoke: Invoke) -> None:
    _config.get_or_create_install_id()
    result = invoke("delete-my-data", "--yes", expect=1)
    assert "No collector is known" in result.stderr and "--endpoint URL" in result.stderr


def test_a_server_that_is_not_a_collector_is_reported(invoke: Invoke, plain_web_server: str) -> None:
    _config.get_or_create_install_id()
    result = invoke("delete-my-data", "--yes", "--endpoint", plain_web_server, "--timeout", "5", expect=1)
    assert f"{plain_web_server}/v1/deletions answered HTTP 501" in result.stderr
    assert "does not look like a BlindAI Telemetry collector" in result.stderr


def test_not_a_url_is_refused(invoke: Invoke) -> None:
    _config.get_or_create_install_id()
    assert "is not a collector URL" in invoke("delete-my-data", "--yes", "--endpoint", "ftp://x", expect=1).stderr


def test_declining_the_confirmation_sends_nothing(invoke: Invoke) -> None:
    _config.get_or_create_install_id()
    url = closed_port_url()
    result = invoke("delete-my-data", "--endpoint", url, input="n\n", expect=1)
    assert "Aborted" in result.stderr and "Could not reach" not in result.stderr


def test_no_known_collector_is_said_before_any_question(invoke: Invoke) -> None:
    """Without --yes: "No collector is known" at once, exit 1, and no "Delete …? [y/N]" that could only fail."""
    install_id, _ = _config.get_or_create_install_id()
    result = invoke("delete-my-data", input="y\n", expect=1)
    assert "No collector is known" in result.stderr and "--endpoint URL" in result.stderr
    assert "Delete every event" not in result.stdout and install_id not in result.stdout


def test_a_bad_endpoint_is_refused_before_any_question(invoke: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    _config.get_or_create_install_id()
    assert "is not a collector URL" in invoke("delete-my-data", "--endpoint", "ftp://x", input="y\n",
                                              expect=1).stderr
    monkeypatch.setenv(ev.BLINDAI_TELEMETRY_ENDPOINT, "not a url")
    result = invoke("delete-my-data", input="y\n", expect=1)
    assert f"{ev.BLINDAI_TELEMETRY_ENDPOINT} is set, but not to a collector URL" in result.stderr
    assert "Delete every event" not in result.stdout


def test_the_question_names_the_collector_it_will_ask(invoke: Invoke) -> None:
    install_id, _ = _config.get_or_create_install_id()
    url = closed_port_url()
    result = invoke("delete-my-data", "--endpoint", url + "/", input="n\n", expect=1)
    assert f"Delete every event of {install_id} at {url}? [y/N]" in result.stdout
