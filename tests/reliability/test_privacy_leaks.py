"""Privacy leaks (issue 8): identities, addresses, paths and secrets pushed through every property and context
field never reach the wire (SDK: native and Amplitude transports) nor the store, files, logs or what it forwards
to Amplitude (collector: all three formats).

The corpus is `leak_corpus.py`. A disabled SDK opening no socket and writing no file is checked elsewhere and
not repeated here: tests/e2e/test_opt_out.py (server and client, in process and as a subprocess) and
tests/sdk/test_optout.py. The sender's address never stored or logged: tests/collector/test_no_ip.py (its
source address is searched for here too).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import platform
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from blindai_telemetry import AmplitudeTransport, ClientInfo, InMemoryTransport, Telemetry, catalogue
from blindai_telemetry.privacy import REDACTED, Scrubber
from blindai_telemetry.stores import DuckDBStore
from blindai_telemetry.testing.fake_amplitude import FakeAmplitude
from reliability.collector_support import start_serve
from reliability.leak_corpus import (
    CORPUS,
    Leak,
    embedded,
    leaks_in_bytes,
    leaks_in_strings,
    local_identities,
    sdk_corpus,
    strings_in,
)

SDK_CORPUS = sdk_corpus()
CLIENT_FIELDS = [f.name for f in dataclasses.fields(ClientInfo)]
PLATFORM_CALLS = ("system", "release", "machine", "python_version")


def test_the_corpus_is_large_enough_to_mean_something() -> None:
    kinds = {leak.kind for leak in CORPUS}
    assert len(CORPUS) >= 35 and len(SDK_CORPUS) >= 2 * len(CORPUS) + 1
    assert {"email", "ipv4", "ipv6", "mac", "url", "path", "aws_key", "api_key", "jwt", "bearer", "card"} <= kinds
    print(f"\nleak corpus: {len(CORPUS)} values, {len(SDK_CORPUS)} with embedded forms and local identities")


# --- the scrubber itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize("leak", SDK_CORPUS, ids=[leak.name for leak in SDK_CORPUS])
def test_the_scrubber_leaves_nothing_of_a_corpus_value(leak: Leak) -> None:
    out = Scrubber()(leak.value)  # this machine's own user and host name, as in the SDK
    assert REDACTED in out
    assert leaks_in_strings([out], [leak]) == []


@pytest.mark.parametrize("text", [
    "0.6.3", "5.15.0-1034-azure", "4.18.0-513.24.1.el8_9.x86_64", "6.1.0-18-amd64", "10.0.22631", "23.4.0",
    "3.11.7", "x86_64", "aarch64", "Linux", "Darwin", "Windows", "blindai-python", "blindai-server",
    "6f1d2c3b-1a2b-4c5d-8e9f-0a1b2c3d4e5f", "C8F9E604-F01A-4BD9-95C6-8E5357DF265D", "h:0123456789abcdef",
    "resnet50", "ResNet50-ImageNet-v2-Finetuned", "bert-base-uncased", "1764323400001", "1764323400001000",
    "tokenizer-v2", "a token of thanks", "skeleton-key-model",
])
def test_the_scrubber_leaves_versions_ids_and_platform_words_alone(text: str) -> None:
    """The secret shapes must not eat what the catalogue legitimately carries (a test of false positives)."""
    assert Scrubber(host_name="gpu-box-7", user_name="alice")(text) == text


# --- (a) the SDK: every property and context field, to the wire -------------------------------------------


def _push_everything(telemetry: Telemetry, value: str) -> None:
    """`value` in every catalogue name (properties, context names, client facts) and an unknown one, on every
    event, with the client's facts as a ClientInfo and as a plain dict."""
    props = {name: value for name in (*catalogue.PROPERTY_NAMES, *catalogue.CONTEXT_NAMES, "email", "note")}
    for event in catalogue.EVENTS:
        telemetry.track(event, client=ClientInfo(**dict.fromkeys(CLIENT_FIELDS, value)), **props)
        telemetry.track(event, client=dict.fromkeys(CLIENT_FIELDS, value), **props)
    telemetry.track("model_run", model_name="resnet50", duration_ms=1.0)  # a clean event: must arrive


@pytest.fixture
def leaky_platform(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """`platform` answers what the test sets: the context's os_name, os_release, arch and python_version."""
    answers: dict[str, str] = {}
    for call in PLATFORM_CALLS:
        real = getattr(platform, call)
        monkeypatch.setattr(platform, call, lambda call=call, real=real: answers.get(call) or real())
    yield answers


def _make(value: str, **kwargs: Any) -> Telemetry:
    return Telemetry(app=value, app_version=value, flush_interval=0.05, shutdown_timeout=2.0, **kwargs)


def _local_files(config_dir: Path) -> bytes:
    """Every file the SDK wrote in its config directory (the `inspect` log, ids, notice)."""
    return b"\n".join(p.read_bytes() for p in sorted(config_dir.rglob("*")) if p.is_file())


@pytest.mark.parametrize("policy", ["hashed", "raw"])
def test_nothing_of_the_corpus_reaches_the_wire_in_memory(
    policy: str, leaky_platform: dict[str, str], clean_telemetry_env: Path
) -> None:
    leaks: list[str] = []
    delivered = 0
    for leak in SDK_CORPUS:
        leaky_platform.update(dict.fromkeys(PLATFORM_CALLS, leak.value))
        transport = InMemoryTransport()
        telemetry = _make(leak.value, transport=transport, model_names=policy)
        try:
            _push_everything(telemetry, leak.value)
            assert telemetry.flush(timeout=10.0)
        finally:
            telemetry.shutdown(timeout=2.0)
        events = transport.events
        assert any(e["event"] == "model_run" and e.get("properties", {}).get("model_name") == "resnet50"
                   for e in events), "the clean event did not arrive: the search would see nothing"
        delivered += len(events)
        leaks += leaks_in_strings(strings_in(transport.payloads), [leak])
    local = _local_files(clean_telemetry_env)
    leaks += leaks_in_bytes(local, SDK_CORPUS)
    print(f"\nSDK in memory ({policy}): {len(SDK_CORPUS)} values, {delivered} events sent, leaks: {len(leaks)}")
    assert leaks == [], "\n".join(leaks)


def test_nothing_of_the_corpus_reaches_the_wire_over_http(
    leaky_platform: dict[str, str], clean_telemetry_env: Path
) -> None:
    """The bytes on the wire (gunzipped), native to a collector-like sink and Amplitude's format to a fake."""
    from sdk.sinks import http_sink

    leaks: list[str] = []
    with http_sink() as sink:
        for leak in SDK_CORPUS:
            leaky_platform.update(dict.fromkeys(PLATFORM_CALLS, leak.value))
            for kwargs in ({"endpoint": sink.url},
                           {"transport": AmplitudeTransport("leak-test-key", sink.url + "/2/httpapi")}):
                before = len(sink.requests)
                telemetry = _make(leak.value, **kwargs)
                try:
                    _push_everything(telemetry, leak.value)
                    assert telemetry.flush(timeout=10.0)
                finally:
                    telemetry.shutdown(timeout=2.0)
                sent = sink.requests[before:]
                assert sent, "nothing reached the sink"
                for request in sent:
                    raw = request.raw
                    wire = gzip.decompress(raw) if request.headers.get("content-encoding") == "gzip" else raw
                    leaks += leaks_in_strings(strings_in(json.loads(wire)), [leak])
                    leaks += leaks_in_bytes(wire + b"\n" + json.dumps(request.headers).encode(), [leak])
        paths = {r.path for r in sink.requests}
    assert paths == {"/v1/batch", "/2/httpapi"}
    leaks += leaks_in_bytes(_local_files(clean_telemetry_env), SDK_CORPUS)
    print(f"\nSDK over HTTP: {len(SDK_CORPUS)} values x 2 transports, {len(sink.requests)} requests, "
          f"leaks: {len(leaks)}")
    assert leaks == [], "\n".join(leaks)


# --- (b) the collector: three formats into a real DuckDB file ----------------------------------------------

#: The corpus as the collector sees it: not the machine's own names (only the sender can tell those).
COLLECTOR_CORPUS = (*CORPUS, *(embedded(leak) for leak in CORPUS))
#: Kinds that an identifier may look like by chance (a random base64 id, a numeric user id): the collector
#: does not refuse them as install or event ids, so they are not put there (they are in every other field).
NOT_IN_IDS = frozenset({"card", "card_embedded"})
SOURCE = "127.0.0.78"  # the sender's address: a distinctive loopback one, searched for like the corpus
MARKER = "marker-7c41e2"  # stored as a version: shows that the byte search can see stored text
NOW_MS = int(time.time() * 1000)
STRING_CONTEXT = [f.name for f in catalogue.CONTEXT_FIELDS
                  if f.type is str and not f.choices and f.name != "install_id"]


def _native(value: str, n: int) -> list[dict[str, Any]]:
    """Native batches: `value` in every string context field and property (and unknown ones) of every event,
    with a clean marker event; then `value` as the install id and as the event id (each refuses its batch)."""
    events = []
    for name in catalogue.EVENTS:
        properties = {p: value for p in catalogue.allowed_properties(name)
                      if catalogue.FIELDS[p].type is str and not catalogue.FIELDS[p].choices}
        events.append({
            "event_id": str(uuid.uuid4()), "event": name, "time": NOW_MS, "install_id": f"inst-native-{n}",
            **dict.fromkeys(STRING_CONTEXT, value), "mode": "simulation", "email": value,
            "properties": {**properties, "note": value},
        })
    events.append({"event_id": str(uuid.uuid4()), "event": "server_started", "time": NOW_MS,
                   "install_id": f"inst-native-{n}", "app_version": MARKER})
    batches = [{"schema_version": 1, "sent_at": NOW_MS, "events": events, "comment": value}]
    for key in ("install_id", "event_id"):
        base = {"event_id": str(uuid.uuid4()), "event": "server_started", "time": NOW_MS,
                "install_id": f"inst-native-{n}"}
        batches.append({"schema_version": 1, "events": [{**base, key: value}]})
    return batches


def _amplitude(value: str, n: int, ids: bool) -> dict[str, Any]:
    """One Amplitude body: `value` in every standard field and every catalogue name of both property objects,
    on every catalogue event and an original era-A event; and, as its own event, as `user_id`/`device_id`."""
    catalogue_names = dict.fromkeys([*catalogue.FIELDS, "email", "ip"], value)
    common = {"user_id": f"inst-amp-{n}", "device_id": f"device-{n}-x", "ip": value, "app_version": value,
              "os_name": value, "os_version": value, "platform": value, "device_model": value, "city": value,
              "carrier": value, "language": value, "library": value, "user_agent": value, "insert_id": value,
              "user_properties": catalogue_names, "event_properties": catalogue_names}
    events: list[dict[str, Any]] = [{"event_type": name, "time": NOW_MS, **common} for name in catalogue.EVENTS]
    events.append({**common, "event_type": "run_model", "time": 1663600000,
                   "event_properties": {"RunModel": {"model_name": value, "model_hash": value}},
                   "user_properties": {"client_uid": value, "client_platform_version": value}})
    events.append({"event_type": "server_started", "user_id": f"inst-amp-{n}", "time": NOW_MS,
                   "app_version": MARKER, "insert_id": f"marker-{n}"})
    if ids:
        events.append({"event_type": "server_started", "user_id": value, "time": NOW_MS})
        events.append({"event_type": "server_started", "device_id": value, "time": NOW_MS})
    return {"api_key": "leak-test-key", "events": events}


def _blindai(value: str, n: int, ids: bool) -> list[dict[str, Any]]:
    """One original servers' body: `value` in every field of each era's events; as `user_id` on its own."""
    user = {"sgx_mode": value, "uptime": 1, "client_uid": value, "client_platform_name": value,
            "client_platform_release": value, "client_platform_arch": value, "client_platform_version": value,
            "client_user_agent": value, "client_user_agent_version": value, "note": value}
    events: list[dict[str, Any]] = []
    for event_type, tag in (("started", "Started"), ("send_model", "SendModel"), ("run_model", "RunModel"),
                            ("client_run_model", "RunModel")):
        events.append({"user_id": f"inst-old-{n}", "event_type": event_type, "device_id": value,
                       "time": 1663600000 + len(events), "app_version": value, "cloud_user_id": value,
                       "custom_agent_id": value, "user_properties": user, "note": value,
                       "event_properties": {tag: {"model_name": value, "model_hash": value, "sign": False,
                                                  "model_size": 10, "time_taken": 0.5, "note": value}}})
    events.append({"user_id": f"inst-old-{n}", "event_type": "started", "time": 1663600100 + n,
                   "app_version": MARKER, "event_properties": {"Started": {}}})
    if ids:
        events.append({"user_id": value, "event_type": "started", "time": 1663600200 + n,
                       "event_properties": {"Started": {}}})
    return events


def test_nothing_of_the_corpus_reaches_the_collectors_store_files_or_logs(tmp_path: Path) -> None:
    """...nor Amplitude: the collector forwards what it stores (to a fake on 127.0.0.1) from an outbox file."""
    with FakeAmplitude() as fake:
        _collector_round(tmp_path, fake)


def _collector_round(tmp_path: Path, fake: FakeAmplitude) -> None:
    served = start_serve(tmp_path, "--db", str(tmp_path / "t.duckdb"), "--log-level", "debug",
                         "--forward-amplitude-key", fake.state.api_key, "--forward-amplitude-url", fake.url)
    statuses: dict[str, dict[int, int]] = {"native": {}, "amplitude": {}, "blindai": {}}
    wal = b""

    def count(fmt: str, status: int) -> None:
        statuses[fmt][status] = statuses[fmt].get(status, 0) + 1

    try:
        transport = httpx.HTTPTransport(local_address=SOURCE)
        with httpx.Client(base_url=served.url, transport=transport, timeout=30) as http:
            for n, leak in enumerate(COLLECTOR_CORPUS):
                ids = leak.kind not in NOT_IN_IDS
                native = _native(leak.value, n) if ids else _native(leak.value, n)[:1]
                for body in native:
                    count("native", http.post("/v1/batch", json=body).status_code)
                count("amplitude", http.post("/2/httpapi", json=_amplitude(leak.value, n, ids)).status_code)
                count("blindai", http.post("/blindai", json=_blindai(leak.value, n, ids)).status_code)
        wal_path = tmp_path / "t.duckdb.wal"
        wal = wal_path.read_bytes() if wal_path.exists() else b""  # while running: after a clean stop it is gone
        deadline = time.monotonic() + 30
        while not any(e.get("app_version") == MARKER for e in list(fake.state.events)):
            assert time.monotonic() < deadline, "nothing was forwarded: the forwarded search would see nothing"
            time.sleep(0.05)
    finally:
        assert served.stop() == 0

    # The corpus was really accepted around the refused values (the marker of each request is stored).
    assert statuses["amplitude"] == {200: len(COLLECTOR_CORPUS)}, statuses
    assert statuses["blindai"] == {200: len(COLLECTOR_CORPUS)}, statuses
    assert statuses["native"].get(200) == len(COLLECTOR_CORPUS), statuses
    assert set(statuses["native"]) <= {200, 400}, statuses

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"t.duckdb", "stdout.log", "stderr.log", "t.duckdb.forward-outbox.sqlite"} <= {p.name for p in files}
    stored_bytes = b"".join(p.read_bytes() for p in files if p.name.startswith("t.duckdb")) + wal
    assert MARKER.encode() in stored_bytes, "the byte search cannot see stored text"
    corpus = [*COLLECTOR_CORPUS, Leak("sender_address", SOURCE, (SOURCE,))]
    leaks = [f"{path.name}: {hit}" for path in files for hit in leaks_in_bytes(path.read_bytes(), corpus)]
    leaks += [f"WAL: {hit}" for hit in leaks_in_bytes(wal, corpus)]

    store = DuckDBStore(tmp_path / "t.duckdb")
    try:
        tables = [t["table_name"] for t in store.fetch("SELECT table_name FROM information_schema.tables")]
        dump = [store.fetch(f'SELECT * FROM "{table}"') for table in tables]
        markers = store.fetch("SELECT count(*) AS n FROM events WHERE app_version = ?", [MARKER])[0]["n"]
        stored = store.fetch("SELECT count(*) AS n FROM events")[0]["n"]
    finally:
        store.close()
    values = [str(v) for v in strings_in(json.loads(json.dumps(dump, default=str)))]
    leaks += [f"table: {hit}" for hit in leaks_in_strings(values, corpus)]
    forwarded = list(fake.state.events)
    leaks += [f"forwarded: {hit}" for hit in leaks_in_strings(strings_in(forwarded), corpus)]
    assert markers == 3 * len(COLLECTOR_CORPUS)
    print(f"\ncollector: {len(COLLECTOR_CORPUS)} values x 3 formats, requests {statuses}, {stored} rows stored, "
          f"{len(forwarded)} forwarded, {len(files)} files searched, leaks: {len(leaks)}")
    assert leaks == [], "\n".join(leaks)


def test_local_identities_are_recognised_by_the_sdk_only() -> None:
    """The machine's own names: the SDK refuses them as whole values; the collector cannot know them."""
    for leak in local_identities():
        assert Scrubber()(leak.value) == REDACTED
