"""The benchmark's sink counts each SDK's events from its real wire format, and its broken endpoints are broken."""

from __future__ import annotations

import gzip
import json
import socket
import urllib.error
import urllib.request

import pytest
from benchmarks.sdk import sink


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return bytes(response.read())


def test_each_sdk_is_counted_from_its_own_path_and_shape() -> None:
    """posthog /batch/, Segment /v1/batch {batch}, ours /v1/batch {events} (gzip), Amplitude /2/httpapi."""
    with sink.Sink() as server:
        _post(f"{server.url}/batch/", json.dumps({"api_key": "k", "batch": [{}, {}, {}]}).encode())
        _post(f"{server.url}/v1/batch", json.dumps({"writeKey": "k", "batch": [{}, {}]}).encode())
        ours = {"schema_version": 1, "dropped": {"queue_full": 7, "unknown_property": 1}, "events": [{}] * 5}
        reply = _post(f"{server.url}/v1/batch", gzip.compress(json.dumps(ours).encode()),
                      {"Content-Encoding": "gzip"})
        amplitude = json.loads(_post(f"{server.url}/2/httpapi", json.dumps({"events": [{}] * 4}).encode()))
        assert server.events == {"posthog": 3, "segment": 2, "ours": 5, "amplitude": 4}
        assert server.reported_drops["ours"] == 8
        assert json.loads(reply)["accepted"] == 5
        assert amplitude["code"] == 200 and amplitude["events_ingested"] == 4


def test_otlp_protobuf_spans_are_counted() -> None:
    """An OTLP/HTTP trace export is parsed as protobuf and each span counted."""
    trace_service = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")
    request = trace_service.ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for name in ("a", "b", "c"):
        scope.spans.add().name = name
    assert sink.classify("/v1/traces", request.SerializeToString(), "application/x-protobuf") == ("otel", 3, 0)


def test_unreadable_bodies_are_counted_as_unknown_and_answered() -> None:
    """A body the sink cannot parse still gets a 200, so no SDK retries because of the sink."""
    with sink.Sink() as server:
        _post(f"{server.url}/v1/batch", b"\x00not json")
        assert server.requests["unknown"] == 1 and server.received("ours") == 0


def test_closed_port_refuses_connections() -> None:
    """The "collector down" endpoint refuses at once (no listener)."""
    url = sink.closed_port_url()
    with pytest.raises(urllib.error.URLError):
        _post(f"{url}/v1/batch", b"{}")


def test_black_hole_accepts_and_never_answers() -> None:
    """The black-holed endpoint completes the TCP handshake, takes the request, and never replies."""
    with sink.BlackHole() as hole:
        port = int(hole.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
            conn.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            conn.settimeout(0.3)
            with pytest.raises(TimeoutError):
                conn.recv(1)
