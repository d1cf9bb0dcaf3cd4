"""Several collector processes in front of one ClickHouse: what holds across them, and what is per process.

Across collectors (the store holds it): each event is stored once whichever collectors its copies reach, a
deletion requested on one removes what the others stored and its status can be read from any of them, and
private model names hash alike when the collectors share a key file. Per process: the rate limit, and the
order of a deletion after the batches received before it (only those of its own collector).
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from blindai_telemetry.stores.clickhouse import ClickHouseStore

from .conftest import NOW_MS, Process, delete, events, post, start_collector, wait_done

pytestmark = pytest.mark.slow


def at_once(calls: Sequence[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call in its own thread, released together."""
    gate = threading.Barrier(len(calls), timeout=30)

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        gate.wait()
        return call()

    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def stored_ids(store: ClickHouseStore, install_id: str) -> list[str]:
    return [row["event_id"] for row in store.rows(install_id, limit=100_000)]


def summaries(collectors: Sequence[Process]) -> list[dict[str, Any]]:
    return [httpx.get(c.url + "/api/v1/summary", timeout=30).json() for c in collectors]


def test_overlapping_batches_sent_at_once_through_three_collectors_are_stored_once(
    collectors: list[Process], store: ClickHouseStore,
) -> None:
    """SDK retries and overlapping batches racing through different collectors: every copy is acknowledged,
    each event is stored (and read, by the query API of any collector) once."""
    install = str(uuid.uuid4())
    sent = events(install, 60)
    slices = [sent[0:40], sent[20:60], sent[10:50], sent]
    responses = at_once([lambda c=c, s=s: post(c, s) for c in collectors for s in slices])
    assert [r.status_code for r in responses] == [200] * len(responses)
    assert [r.json()["accepted"] for r in responses] == [len(s) for _ in collectors for s in slices]
    ids = stored_ids(store, install)
    assert sorted(ids) == sorted(e["event_id"] for e in sent)
    totals = summaries(collectors)
    assert totals[0]["events"] >= 60 and totals.count(totals[0]) == len(totals)  # one store, one answer


def test_a_batch_retried_through_other_collectors_is_acknowledged_as_duplicates(
    collectors: list[Process], store: ClickHouseStore,
) -> None:
    first, second, third = collectors
    batch = events(str(uuid.uuid4()), 20)
    assert post(first, batch).json() == {"accepted": 20, "duplicates": 0, "dropped_fields": 0, "dropped": {}}
    assert post(second, batch).json()["duplicates"] == 20
    assert post(third, batch[:5] + events(batch[0]["install_id"], 1)).json()["duplicates"] == 5
    assert len(stored_ids(store, batch[0]["install_id"])) == 21


def test_a_deletion_requested_on_one_collector_removes_what_the_others_stored(
    collectors: list[Process], store: ClickHouseStore,
) -> None:
    """The deletion runs on A's writer but deletes in the shared store; its record is there too, so B and C
    answer its status (pending, then done with the count)."""
    a, b, c = collectors
    gone, server = str(uuid.uuid4()), str(uuid.uuid4())
    assert post(b, events(gone, 30)).status_code == 200
    assert post(c, events(gone, 20)).status_code == 200
    caused = events(server, 1, properties={"model_name": "resnet50", "ok": True, "client_install_id": gone})
    assert post(c, caused).status_code == 200
    deletion = delete(a, gone)
    seen_from_b = httpx.get(f"{b.url}/v1/deletions/{deletion}", timeout=10)
    assert seen_from_b.status_code == 200 and seen_from_b.json()["status"] in ("pending", "done")
    done = wait_done(c, deletion)
    assert done["events_deleted"] == 50 and done["install_count"] == 1
    assert stored_ids(store, gone) == []
    assert [row["client_install_id"] for row in store.rows(server)] == [None]
    assert httpx.get(f"{b.url}/v1/deletions/{uuid.uuid4()}", timeout=10).status_code == 404


def test_events_sent_after_a_deletion_are_stored_whichever_collector_gets_them(
    collectors: list[Process], store: ClickHouseStore,
) -> None:
    """DESIGN (collector/deletions.py): later events of a deleted install are new data and are stored, even a
    replay of the very events deleted (its insert must not be taken for a retry of the deleted insert)."""
    a, b, c = collectors
    install = str(uuid.uuid4())
    old = events(install, 10)
    assert post(a, old).status_code == 200
    wait_done(a, delete(b, install))
    assert stored_ids(store, install) == []
    assert post(c, old).json() == {"accepted": 10, "duplicates": 0, "dropped_fields": 0, "dropped": {}}
    new = events(install, 5)
    assert post(a, new).status_code == 200
    assert sorted(stored_ids(store, install)) == sorted(e["event_id"] for e in old + new)


def test_a_deletion_while_other_collectors_ingest_loses_no_acknowledged_event(
    collectors: list[Process], store: ClickHouseStore,
) -> None:
    """A deletion's DELETE runs beside other collectors' inserts: theirs all survive, none of the deleted."""
    a, b, c = collectors
    gone = str(uuid.uuid4())
    assert post(a, events(gone, 30)).status_code == 200
    assert post(b, events(gone, 30)).status_code == 200
    others = {b: str(uuid.uuid4()), c: str(uuid.uuid4())}
    acked: dict[str, list[str]] = {install: [] for install in others.values()}
    stop = threading.Event()

    def load(collector: Process, install: str) -> None:
        for _ in range(500):  # bounded; stopped once the deletion is done
            if stop.is_set():
                return
            batch = events(install, 50)
            if post(collector, batch).status_code == 200:
                acked[install].extend(e["event_id"] for e in batch)

    loaders = [threading.Thread(target=load, args=item) for item in others.items()]
    for t in loaders:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while min(len(ids) for ids in acked.values()) < 100:  # both loaders are writing
            assert time.monotonic() < deadline
            time.sleep(0.01)
        done = wait_done(a, delete(a, gone))
    finally:
        stop.set()
        for t in loaders:
            t.join(60)
    assert done["events_deleted"] == 60
    assert stored_ids(store, gone) == []
    for install, ids in acked.items():
        assert sorted(stored_ids(store, install)) == sorted(ids)


def test_the_rate_limit_is_per_collector_process(collectors: list[Process]) -> None:
    """Each collector holds an install to 1,000 events/s over 10 s (a bucket of 10,000) on its own: a burst
    refused in part by A is then taken by B, so N collectors let an install through N times the limit."""
    a, b, _ = collectors
    install = str(uuid.uuid4())
    started = time.monotonic()
    burst = at_once([lambda c=c: post(c, events(install, 2_000)) for c in (a, b) for _ in range(8)])
    elapsed = time.monotonic() - started
    burst_a, burst_b = burst[:8], burst[8:]
    for burst in (burst_a, burst_b):
        refused = [r for r in burst if r.status_code == 429]
        assert refused and all(int(r.headers["Retry-After"]) >= 1 for r in refused)
        assert {r.status_code for r in burst} == {200, 429}
    accepted = sum(2_000 for r in burst_a + burst_b if r.status_code == 200)
    # One shared bucket would have let through at most its 10,000 plus what refilled meanwhile.
    assert accepted > 10_000 + 1_000 * elapsed


def test_collectors_sharing_a_model_name_key_file_hash_private_model_names_alike(
    collectors: list[Process], clickhouse: Process, store: ClickHouseStore, tmp_path: Path,
) -> None:
    """Old BlindAI servers send model names in clear; each collector hashes private ones with its key. With
    one key file everywhere an install's model counts as one model whichever collector got its events; a
    collector started without it (`--store` makes a new key per start) hashes it otherwise."""
    server_uid = uuid.uuid4().hex[:12].upper()

    def old_event(at_s: int) -> list[dict[str, Any]]:
        return [{"user_id": server_uid, "event_type": "run_model", "device_id": "Linux - SW", "time": at_s,
                 "app_version": "0.5.6", "user_properties": {"sgx_mode": "SW", "uptime": 5},
                 "event_properties": {"RunModel": {"model_name": "acme-fraud-detector", "time_taken": 0.03}}}]

    for i, collector in enumerate(collectors):
        assert httpx.post(collector.url + "/blindai", json=old_event(NOW_MS // 1000 - i), timeout=30).status_code == 200
    lone = start_collector(clickhouse, tmp_path / "lone")
    try:
        assert httpx.post(lone.url + "/blindai", json=old_event(NOW_MS // 1000 - 10), timeout=30).status_code == 200
    finally:
        assert lone.stop() == 0
    names = [row["model_name"] for row in store.rows(server_uid)]  # oldest first: the lone collector's first
    assert len(names) == 4 and "acme-fraud-detector" not in names
    assert len(set(names[1:])) == 1 and names[0] != names[1]
