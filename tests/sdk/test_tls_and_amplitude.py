"""TLS is verified with the system's trust store, and AmplitudeTransport speaks Amplitude's HTTP V2 format."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from blindai_telemetry import AmplitudeTransport, HttpTransport, Outcome, SendResult, Telemetry
from sdk.sinks import Sink, forward_proxy, http_sink

BODY = b'{"schema_version":1,"sent_at":0,"dropped":{},"events":[]}'


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls_sink(certificate: tuple[Path, Path]) -> Iterator[Sink]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    with http_sink(context) as sink:
        yield sink


def test_self_signed_collector_is_refused_by_default(tls_sink: Sink) -> None:
    """The default SSL context verifies the certificate: an untrusted one gets nothing, not even a request."""
    transport = HttpTransport(tls_sink.url)
    assert transport.send(BODY, timeout=5.0).outcome is Outcome.RETRY
    assert tls_sink.requests == []


def test_trusted_certificate_is_accepted(tls_sink: Sink, certificate: tuple[Path, Path]) -> None:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    transport = HttpTransport(tls_sink.url, ssl_context=context)
    assert transport.send(BODY, timeout=5.0) is SendResult.OK
    assert transport.send(BODY, timeout=5.0) is SendResult.OK
    transport.close()
    assert len(tls_sink.requests) == 2 and tls_sink.requests[0].peer_port == tls_sink.requests[1].peer_port


def test_https_through_a_connect_proxy_is_verified_end_to_end(
        tls_sink: Sink, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    with forward_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY")
        context = ssl.create_default_context(cafile=str(certificate[0]))
        transport = HttpTransport(tls_sink.url, ssl_context=context)
        assert transport.send(BODY, timeout=5.0) is SendResult.OK
        assert transport.send(BODY, timeout=5.0) is SendResult.OK  # same tunnel, kept alive
        transport.close()
    port = tls_sink.url.rsplit(":", 1)[1]
    assert [line.rsplit(" ", 1)[0] for line in proxy.request_lines] == [f"CONNECT 127.0.0.1:{port}"]
    assert len(tls_sink.requests) == 2


def test_amplitude_body_has_no_ip_and_maps_our_fields(sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    transport = AmplitudeTransport("api-key-1", server_url=sink.url + "/2/httpapi")
    telemetry = make_telemetry(transport=transport, mode="simulation")
    telemetry.track("model_run", model_name="resnet50", duration_ms=4.0, ok=True)
    assert telemetry.flush(timeout=10.0)
    (request,) = sink.requests
    assert request.path == "/2/httpapi" and request.headers["content-encoding"] == "gzip"
    body = request.body
    assert body["api_key"] == "api-key-1" and set(body) == {"api_key", "events"}
    (event,) = body["events"]
    assert event["event_type"] == "model_run"
    assert event["device_id"] == telemetry.install_id and len(event["device_id"]) >= 5
    assert event["event_properties"] == {"model_name": "resnet50", "duration_ms": 4.0, "ok": True}
    assert event["user_properties"]["mode"] == "simulation"
    assert event["user_properties"]["session_id"]
    assert {"app_version", "platform", "os_name", "os_version", "insert_id", "time"} <= set(event)
    assert "ip" not in str(sorted(event)) and "location_lat" not in event and "$remote" not in str(body)


def test_amplitude_insert_id_is_stable_across_retries(sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    sink.responses.append((429, {"Retry-After": "0"}))
    telemetry = make_telemetry(transport=AmplitudeTransport("k", server_url=sink.url + "/2/httpapi"))
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    first, second = (r.body["events"][0]["insert_id"] for r in sink.requests)
    assert first == second


def test_amplitude_413_splits(sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    sink.responses.append((413, {}))
    telemetry = make_telemetry(transport=AmplitudeTransport("k", server_url=sink.url + "/2/httpapi"),
                               flush_interval=60)
    for _ in range(6):
        telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert [len(r.body["events"]) for r in sink.requests] == [6, 3, 3]


def test_amplitude_api_key_argument_selects_amplitude() -> None:
    telemetry = Telemetry("a", "1", amplitude_api_key="k", flush_interval=60)
    try:
        assert isinstance(telemetry.transport, AmplitudeTransport)
        assert telemetry.transport.endpoint == "https://api2.amplitude.com/2/httpapi"
    finally:
        telemetry.shutdown(timeout=0.1)


def test_endpoint_environment_variable_overrides_the_configured_destination(
        sink: Sink, make_telemetry: Callable[..., Telemetry], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLINDAI_TELEMETRY_ENDPOINT", sink.url)
    telemetry = make_telemetry(endpoint="http://127.0.0.1:9", amplitude_api_key="k")
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert sink.requests[0].path == "/v1/batch"
