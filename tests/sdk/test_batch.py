"""The worker's per-batch work: event ids, the native JSON made in slices, and what the filter remembers."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from blindai_telemetry import ClientInfo, SendResult, Telemetry, _config
from blindai_telemetry._batch import (
    CLIENT_KEY,
    CONTEXT_KEY,
    ENCODE_SLICE,
    Batch,
    Context,
    encode_native,
    event_ids,
)
from blindai_telemetry._filter import ClientFacts, PrivacyFilter
from blindai_telemetry._transport import Transport
from blindai_telemetry.privacy import REDACTED, Scrubber

CLIENT = ClientInfo(install_id="6f1d2c7e-8a7b-4c1e-9d2f-0b1c2d3e4f50", app_version="0.6.3", os_name="Linux",
                    os_release="6.1.0", arch="x86_64", user_agent="blindai-python")


def test_event_ids_are_distinct_version_4_uuids() -> None:
    ids = event_ids(2000)
    assert len(set(ids)) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == text


def test_native_encoding_in_slices_with_the_context_spliced_is_the_plain_serialisation() -> None:
    calls: list[int] = []
    context = Context({"install_id": "i", "app": "ré \"quoted\" \u0000", "is_ci": False})
    for count in (0, 1, ENCODE_SLICE, ENCODE_SLICE + 1, 5 * ENCODE_SLICE + 3):
        events = [{"event_id": str(i), "event": "model_run", "properties": {"model_name": "ré", "n": i},
                   CONTEXT_KEY: 0} for i in range(count)]
        batch = Batch(events, {"queue_full": 2}, count, None, context)
        calls.clear()
        decoded = json.loads(encode_native(batch, lambda: calls.append(1)))
        expected = batch.payload()
        assert decoded == {**expected, "sent_at": decoded["sent_at"]}
        assert all(e == {**events[i], **context.fields} | {CONTEXT_KEY: e.get(CONTEXT_KEY)} or CONTEXT_KEY not in e
                   for i, e in enumerate(decoded["events"]))
        assert len(calls) == max(0, (count - 1) // ENCODE_SLICE)  # consulted between slices, not after the last
    complete = Batch([{"event_id": "1", "install_id": "i"}], {}, 0)  # read back from the spool: no context
    assert json.loads(encode_native(complete))["events"] == [{"event_id": "1", "install_id": "i"}]


def test_the_scrubber_remembers_results_but_never_changes_them() -> None:
    scrub = Scrubber(host_name="gpu-box-7", user_name="alice")
    texts = ["alice@example.com", "5.15.0", "gpu-box-7 ran it", "x" * 300]
    first = [scrub(t) for t in texts]
    assert [scrub(t) for t in texts] == first
    assert first[0] == REDACTED and first[1] == "5.15.0" and REDACTED in first[2] and len(first[3]) == 200
    for i in range(5000):  # bounded: the memo is emptied rather than grown past its size
        scrub(f"v{i}")
    assert len(scrub._memo) <= 2048


def test_a_cached_client_still_counts_its_drops_on_every_event() -> None:
    drops: Counter[str] = Counter()
    f = PrivacyFilter(drops, "hashed", "k" * 64, Scrubber(host_name="gpu-box-7", user_name="alice"))
    bad = ClientInfo(install_id="not-a-uuid", arch="x86_64")
    outs = [f("model_run", {"duration_ms": 1.0}, bad) for _ in range(3)]
    assert outs == [{"duration_ms": 1.0, "client_arch": "x86_64"}] * 3
    assert drops["invalid_value"] == 3
    good = f("model_run", {"ok": True}, CLIENT)
    assert good is not None and good["client_install_id"] == CLIENT.install_id and len(good) == 7
    assert f("server_started", {}, CLIENT) == {}  # per event: server_started carries no client facts
    assert drops["unknown_property"] == 6


def test_a_string_that_cannot_be_utf8_loses_its_value_not_its_whole_batch(
        make_telemetry: Callable[..., Telemetry]) -> None:
    from blindai_telemetry import InMemoryTransport

    transport = InMemoryTransport()
    telemetry = make_telemetry(transport=transport, model_names="raw", flush_interval=60)
    telemetry.track("model_run", model_name="bad\ud800name", duration_ms=1.0)
    telemetry.track("model_run", model_name="resnet50", duration_ms=2.0)
    assert telemetry.flush(timeout=10.0)
    assert [e["properties"] for e in transport.events] == [
        {"duration_ms": 1.0}, {"model_name": "resnet50", "duration_ms": 2.0}]
    assert telemetry.stats()["dropped"] == {"invalid_value": 1}


class _NotJson(Transport):
    """A third-party transport whose encoding is not JSON (a binary format, say)."""

    name = "binary"

    def __init__(self) -> None:
        self.sent = 0

    def encode(self, batch: object) -> bytes:
        return b"\x00binary"

    def send(self, body: bytes, timeout: float) -> SendResult:
        self.sent += 1
        return SendResult.OK


def test_a_transport_that_does_not_speak_json_is_logged_and_delivers_once(
        make_telemetry: Callable[..., Telemetry]) -> None:
    transport = _NotJson()
    telemetry = make_telemetry(transport=transport, flush_interval=0.05)
    telemetry.track("server_started")
    assert telemetry.flush(timeout=10.0)
    assert telemetry.flush(timeout=0.3)  # a few more worker cycles: the delivered batch is never sent again
    assert transport.sent == 1
    (record,) = _config.read_sent_log()
    assert record["transport"] == "binary" and record["outcome"] == "ok" and record["payload"] is None
    assert json.loads(json.dumps(record)) == record


def _built(clients: list[ClientInfo | None], drops: Counter[str] | None = None) -> Batch:
    """A batch as the worker builds it: `model_run` events (some with no property of their own) and clients."""
    f = PrivacyFilter(drops if drops is not None else Counter(), "raw")
    events: list[dict[str, Any]] = []
    facts_list: list[ClientFacts | None] = []
    for i, client in enumerate(clients):
        kept = f.split("model_run", {"duration_ms": float(i), "model_name": "ré"} if i % 3 else {}, client)
        assert kept is not None
        props, facts = kept
        if facts is not None:
            props[CLIENT_KEY] = 0
        events.append({"event_id": str(i), "event": "model_run", "properties": props, CONTEXT_KEY: 0})
        facts_list.append(facts)
    return Batch(events, {}, len(events), None, Context({"install_id": "i", "app": "ré"}), facts_list)


def test_client_facts_are_spliced_byte_for_byte_as_if_serialised_with_each_event() -> None:
    other = ClientInfo(install_id="0f1d2c7e-8a7b-4c1e-9d2f-0b1c2d3e4f51", arch="aarch64", user_agent="ré \"q\"")
    dropped_all = ClientInfo(install_id="not-a-uuid")  # nothing of it may leave: no marker, nothing spliced
    for count in (1, ENCODE_SLICE, 3 * ENCODE_SLICE + 5):
        clients = [[CLIENT, other, None, dropped_all, ClientInfo(**CLIENT.to_dict())][i % 5] for i in range(count)]
        batch = _built(clients)
        merged = [{**e, "properties": {**{k: v for k, v in e["properties"].items() if k != CLIENT_KEY},
                                       **(facts.properties if facts else {})}}
                  for e, facts in zip(batch.events, batch.clients or [], strict=True)]
        plain = Batch(merged, {}, count, None, batch.context)  # what the wire carried before the splice
        spliced, expected = encode_native(batch), encode_native(plain)
        assert spliced.partition(b',"events":')[2] == expected.partition(b',"events":')[2]
        assert json.loads(spliced)["events"] == batch.payload()["events"]  # other transports see the same
        first, second = batch.split()
        assert first.complete_events() + second.complete_events() == batch.complete_events()
        events = json.loads(spliced)["events"]
        assert all(e["properties"].get("client_arch") == (c.arch if c in (CLIENT, other) else None)
                   for e, c in zip(events, clients, strict=True))


def test_a_client_is_filtered_and_serialised_once_and_its_drops_still_counted_each_time() -> None:
    drops: Counter[str] = Counter()
    f = PrivacyFilter(drops, "hashed")
    bad = ClientInfo(install_id="not-a-uuid", arch="x86_64")
    results = [f.split("model_run", {"ok": True}, client) for client in (bad, bad, ClientInfo(**bad.to_dict()))]
    facts = [r[1] for r in results if r is not None]
    assert len(facts) == 3 and facts[0] is facts[1] is facts[2]  # by identity, then by value
    assert facts[0] is not None and facts[0].json == b'"client_arch":"x86_64"'
    assert drops["invalid_value"] == 3
    # The host passed a client_* property itself: merged where it stands, as the wire always had it.
    kept = f.split("model_run", {"client_arch": "arm64", "ok": True}, CLIENT)
    assert kept is not None and kept[1] is None and list(kept[0])[:2] == ["client_arch", "ok"]
    assert kept[0]["client_arch"] == "x86_64"


def test_the_client_cache_is_bounded() -> None:
    f = PrivacyFilter(Counter(), "hashed")
    for i in range(3000):
        f.split("model_run", {}, ClientInfo(app_version=f"1.{i}"))
    assert len(f._clients) <= 1024 and len(f._client_objects) <= 1024
