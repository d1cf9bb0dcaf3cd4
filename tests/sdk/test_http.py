"""HttpTransport against real HTTP servers on 127.0.0.1: gzip, keep-alive, status handling, proxies."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable

import pytest

from blindai_telemetry import AmplitudeTransport, HttpTransport, Outcome, SendResult, Telemetry, _backoff
from blindai_telemetry._http import parse_retry_after
from sdk.sinks import Sink, black_hole, forward_proxy

BODY = json.dumps({"schema_version": 1, "sent_at": 0, "dropped": {}, "events": []}).encode()


def test_batches_are_gzipped_json_posted_to_v1_batch_with_the_write_key(
        sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    telemetry = make_telemetry(endpoint=sink.url, write_key="wk-123")
    telemetry.track("model_run", model_name="resnet50", duration_ms=1.5)
    assert telemetry.flush(timeout=10.0)
    request = sink.requests[0]
    assert request.path == "/v1/batch"
    assert request.headers["content-encoding"] == "gzip"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == "Bearer wk-123"
    assert request.headers["user-agent"].startswith("blindai-telemetry/")
    assert json.loads(gzip.decompress(request.raw)) == request.body  # really gzip on the wire
    assert request.body["schema_version"] == 1 and request.body["events"][0]["event"] == "model_run"


def test_one_keep_alive_connection_is_reused_across_batches(
        sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    telemetry = make_telemetry(endpoint=sink.url)
    for _ in range(4):
        telemetry.track("server_started")
        assert telemetry.flush(timeout=10.0)
    assert len(sink.requests) == 4
    assert len({r.peer_port for r in sink.requests}) == 1


def test_endpoint_path_prefix_is_kept(sink: Sink) -> None:
    transport = HttpTransport(sink.url + "/telemetry/")
    assert transport.send(BODY, timeout=5.0) is SendResult.OK
    assert sink.requests[0].path == "/telemetry/v1/batch"
    transport.close()


@pytest.mark.parametrize(("status", "outcome"), [
    (200, Outcome.OK), (400, Outcome.DROP), (401, Outcome.DROP), (403, Outcome.DROP), (413, Outcome.TOO_LARGE),
    (429, Outcome.RETRY), (500, Outcome.RETRY), (502, Outcome.RETRY), (503, Outcome.RETRY),
])
def test_status_codes_map_to_outcomes(sink: Sink, status: int, outcome: Outcome) -> None:
    sink.responses.append((status, {"Retry-After": "7"} if status in (429, 503) else {}))
    transport = HttpTransport(sink.url)
    result = transport.send(BODY, timeout=5.0)
    transport.close()
    assert result.outcome is outcome
    assert result.retry_after == (7.0 if status in (429, 503) else None)


def test_retry_after_parsing() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("999999") == 300.0  # capped
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 50 < (parse_retry_after(date) or 0) <= 60


def test_unreachable_endpoint_is_a_retry_not_an_exception() -> None:
    with black_hole() as url:
        pass  # closed: nothing listens on that port any more
    assert HttpTransport(url).send(BODY, timeout=1.0).outcome is Outcome.RETRY


def test_black_holed_endpoint_times_out_within_the_bound() -> None:
    with black_hole() as url:
        started = time.monotonic()
        assert HttpTransport(url).send(BODY, timeout=0.3).outcome is Outcome.RETRY
        assert time.monotonic() - started < 2.0


def test_429_retry_after_is_honoured(sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    sink.responses.append((429, {"Retry-After": "1"}))
    telemetry = make_telemetry(endpoint=sink.url)
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    first, second = sink.requests
    assert second.at - first.at >= 0.9
    assert second.body["events"] == first.body["events"]


def test_5xx_is_retried_and_delivered_exactly_once(sink: Sink, make_telemetry: Callable[..., Telemetry],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_backoff, "BACKOFF_BASE", 0.05)
    sink.responses.extend([(500, {}), (502, {}), (503, {})])
    telemetry = make_telemetry(endpoint=sink.url)
    for i in range(20):
        telemetry.track("model_run", duration_ms=float(i))
    assert telemetry.flush(timeout=20.0)
    stored = sink.events()  # what a collector answering 200 stored
    assert len(stored) == 20
    assert len({e["event_id"] for e in stored}) == 20
    assert len(sink.requests) == 4


def test_413_splits_the_batch(sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    sink.responses.append((413, {}))
    telemetry = make_telemetry(endpoint=sink.url, flush_interval=60)
    for i in range(10):
        telemetry.track("model_run", duration_ms=float(i))
    assert telemetry.flush(timeout=10.0)
    assert [len(r.body["events"]) for r in sink.requests] == [10, 5, 5]
    assert len({e["event_id"] for e in sink.events()}) == 10


def test_400_drops_the_batch_without_retrying(sink: Sink, make_telemetry: Callable[..., Telemetry]) -> None:
    sink.responses.append((400, {}))
    telemetry = make_telemetry(endpoint=sink.url)
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert len(sink.requests) == 1
    assert telemetry.stats()["dropped"] == {"refused": 1}


def test_http_proxy_from_the_environment_is_used(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    with forward_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY")
        monkeypatch.delenv("no_proxy", raising=False)
        transport = HttpTransport(sink.url)
        assert transport.send(BODY, timeout=5.0) is SendResult.OK
        transport.close()
    assert proxy.request_lines == [f"POST {sink.url}/v1/batch HTTP/1.1"]
    assert len(sink.requests) == 1


def test_no_proxy_bypasses_the_proxy(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    with forward_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        transport = HttpTransport(sink.url)
        assert transport.send(BODY, timeout=5.0) is SendResult.OK
        transport.close()
    assert proxy.request_lines == []
    assert len(sink.requests) == 1


def test_https_asks_the_proxy_for_a_tunnel_and_lets_it_resolve_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with forward_proxy() as proxy:
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        monkeypatch.delenv("NO_PROXY")
        transport = HttpTransport("https://collector.example.invalid:8443")
        result = transport.send(BODY, timeout=5.0)
    assert result.outcome is Outcome.RETRY  # the proxy cannot reach that host: 502
    # the name went to the proxy unresolved (no local DNS lookup of the collector behind a proxy)
    assert [line.rsplit(" ", 1)[0] for line in proxy.request_lines] == ["CONNECT collector.example.invalid:8443"]


def test_dns_lookups_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket
    import threading

    release = threading.Event()
    real = socket.getaddrinfo

    def stuck(host: str, *args: object, **kwargs: object) -> object:
        if host == "stuck.example.invalid":
            release.wait(10)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    started = time.monotonic()
    try:
        result = HttpTransport("http://stuck.example.invalid").send(BODY, timeout=0.3)
    finally:
        release.set()
    assert result.outcome is Outcome.RETRY
    assert time.monotonic() - started < 2.0


def test_credentials_in_the_endpoint_are_not_shown() -> None:
    assert HttpTransport("https://user:secret@collector.example/base/").endpoint == "https://collector.example/base"
    amplitude = AmplitudeTransport("key", "https://user:secret@amplitude.example/2/httpapi?token=t")
    assert amplitude.endpoint == "https://amplitude.example/2/httpapi"
