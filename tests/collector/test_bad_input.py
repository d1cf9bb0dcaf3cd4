"""Bad input gets a 4xx with a JSON error naming the problem, never a 500, and nothing of the batch is written."""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib

import pytest
from collector_helpers import Collector, batch, event

from blindai_telemetry.collector.body import BodyError, inflate


def _bomb(inflated_bytes: int) -> bytes:
    """A gzip stream of `inflated_bytes` zeros, made in slices (memory stays small)."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [deflater.compress(chunk) for _ in range(inflated_bytes >> 20)]
    return b"".join(parts) + deflater.flush()


def _json(payload: object) -> bytes:
    return json.dumps(payload).encode()


GOOD = event()
CASES: dict[str, tuple[bytes, dict[str, str], int, str]] = {
    # name: (body, headers, expected status, a phrase the error must contain)
    "malformed JSON": (b'{"events": [', {}, 400, "invalid JSON"),
    "empty body": (b"", {}, 400, "empty body"),
    "not an object": (_json([GOOD]), {}, 400, "JSON object"),
    "events not an array": (_json({"events": {"a": 1}}), {}, 400, "events"),
    "an event not an object": (_json(batch(GOOD, "x")), {}, 400, "events[1]"),  # type: ignore[arg-type]
    "time as a string": (_json(batch(GOOD, event(time="yesterday"))), {}, 400, "events[1].time"),
    "time as a float": (_json(batch(event(time=1.5))), {}, 400, "events[0].time"),
    "time beyond 9999": (_json(batch(event(time=10**16))), {}, 400, "events[0].time"),
    "install_id missing": (_json(batch({k: v for k, v in GOOD.items() if k != "install_id"})), {}, 400,
                           "events[0].install_id"),
    "cpu_count as a string": (_json(batch(GOOD, event(cpu_count="two"))), {}, 400, "events[1].cpu_count"),
    "is_ci as a number": (_json(batch(event(is_ci=1))), {}, 400, "events[0].is_ci"),
    "duration negative": (_json(batch(event(properties={"duration_ms": -1}))), {}, 400, "duration_ms"),
    "a huge integer": (_json(batch(event(cpu_count=2**70))), {}, 400, "cpu_count"),
    "a number too large for a float": (b'{"events": [{"uptime_s": 1e999}]}', {}, 400, "invalid JSON"),
    # An integer beyond a double's range for a float field (float() of it raises OverflowError).
    "an integer too large for a float field": (_json(batch(event(uptime_s=10**400))), {}, 400, "events[0].uptime_s"),
    "properties not an object": (_json(batch(event(properties=[1, 2]))), {}, 400, "properties"),
    "a nested object as a value": (_json(batch(event(app={"a": {"b": 1}}))), {}, 400, "events[0].app"),
    "huge string": (_json(batch(GOOD, event(app_version="9" * 100_000))), {}, 400, "longer than"),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, {}, 400, "nested too deeply"),
    "raw NUL byte": (_json(batch(GOOD)).replace(b"blindai-server", b"blindai\x00server"), {}, 400, "NUL"),
    "escaped NUL in a string": (_json(batch(event(app="blindai\u0000server"))), {}, 400, "events[0].app"),
    "a lone surrogate escape": (_json(batch(GOOD)).replace(b"blindai-server", b"blindai\\ud800server"), {}, 400,
                                "lone UTF-16 surrogate"),
    "invalid UTF-8": (_json(batch(GOOD)).replace(b"blindai-server", b"blindai\xff\xfeserver"), {}, 400, "UTF-8"),
    "lying Content-Encoding": (_json(batch(GOOD)), {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
    "truncated gzip": (gzip.compress(_json(batch(GOOD)))[:-12], {"Content-Encoding": "gzip"}, 400, "gzip"),
    "data after the gzip stream": (gzip.compress(_json(batch(GOOD))) + b"junk", {"Content-Encoding": "gzip"}, 400,
                                   "after the end"),
    "unsupported Content-Encoding": (_json(batch(GOOD)), {"Content-Encoding": "br"}, 415, "Content-Encoding"),
    "gzip bomb": (_bomb(100 << 20), {"Content-Encoding": "gzip"}, 413, "once inflated"),
    "more than 2,000 events": (_json(batch(*[event() for _ in range(2001)])), {}, 413, "2001 events"),
    "more than 1 MB as sent": (_json(batch(event(), pad="x" * 1_100_000)), {}, 413, "as sent"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_refused_with_a_4xx_naming_the_problem_and_nothing_is_stored(
    collector: Collector, name: str
) -> None:
    body, headers, status, phrase = CASES[name]
    with collector.client() as http:
        r = http.post("/v1/batch", content=body, headers={"Content-Type": "application/json", **headers})
        assert r.status_code == status, r.text
        assert phrase in r.json()["error"], r.json()
        assert "Traceback" not in r.text
        assert collector.store.summary()["events"] == 0
        # The collector is unharmed: the next good batch goes through.
        assert http.post("/v1/batch", json=batch(event())).status_code == 200


@pytest.mark.parametrize("path", ["/2/httpapi", "/blindai"])
def test_the_other_formats_refuse_bad_bodies_in_their_own_shape(collector: Collector, path: str) -> None:
    with collector.client() as http:
        for body, headers in ((b"{not json", {}), (b"[1]", {"Content-Encoding": "gzip"})):
            r = http.post(path, content=body, headers=headers)
            assert r.status_code == 400, r.text
            answer = r.json()
            assert answer["error"]
            if path == "/2/httpapi":
                assert answer["code"] == 400  # Amplitude's error shape
        assert collector.store.summary()["events"] == 0


def test_amplitude_too_large_answers_amplitudes_413(collector: Collector) -> None:
    events = [{"event_type": "model_run", "device_id": "device-12345"}] * 2001
    with collector.client() as http:
        r = http.post("/2/httpapi", json={"api_key": "k", "events": events})
    assert r.status_code == 413 and r.json()["code"] == 413


def test_a_gzip_bomb_is_refused_without_inflating_it_all() -> None:
    bomb = _bomb(200 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(BodyError) as refused:
            inflate(bomb, "gzip", 10_000_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.status == 413
    assert peak < 30_000_000, f"inflating used {peak} bytes"  # the limit plus a slice, not 200 MB


def test_inflate_returns_the_original_bytes() -> None:
    data = _json(batch(*[event() for _ in range(50)]))
    assert inflate(gzip.compress(data), "gzip", 10_000_000) == data
    assert inflate(data, None, 10_000_000) == data
    assert inflate(data, "identity", 10_000_000) == data
