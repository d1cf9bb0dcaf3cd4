"""Deletion on request: operators with the admin token, installs deleting their own ids, records without ids."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from collector_helpers import Collector, batch, event, running

from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.stores import DuckDBStore

TOKEN = "admin-secret-token"


def _wait_done(http: httpx.Client, deletion_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 20
    while True:
        answer = http.get(f"/v1/deletions/{deletion_id}").json()
        if answer["status"] == "done":
            return answer  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, answer
        time.sleep(0.02)


def _seed(http: httpx.Client) -> None:
    events = [event(install_id=f"install-{i}") for i in range(4) for _ in range(3)]
    events.append(event(install_id="server-9", properties={"client_install_id": "install-0", "ok": True}))
    assert http.post("/v1/batch", json=batch(*events)).status_code == 200


def test_an_install_deletes_its_own_events_without_a_token(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "t.duckdb")
    try:
        settings = CollectorSettings(admin_token=TOKEN, retention_days=0)
        with running(store, settings) as c, c.client() as http:
            _seed(http)
            r = http.post("/v1/deletions", json={"install_ids": ["install-0", "install-1"]})
            assert r.status_code == 202, r.text
            assert r.json()["status"] == "pending" and set(r.json()) == {"id", "status"}
            done = _wait_done(http, r.json()["id"])
            assert done["events_deleted"] == 6 and done["install_count"] == 2
            remaining = {row["install_id"] for row in store.rows()}
            assert remaining == {"install-2", "install-3", "server-9"}
            # Client fields naming a deleted install are cleared on the server events that remain.
            assert store.rows(install_id="server-9")[0]["client_install_id"] is None
            tables = [t["table_name"] for t in store.fetch("SELECT table_name FROM information_schema.tables")]
            records = json.dumps([store.fetch(f'SELECT * FROM "{t}"') for t in tables if t != "events"], default=str)
            assert "install-0" not in records and "install-1" not in records  # recorded without the ids
    finally:
        store.close()


def test_a_long_list_needs_the_admin_token() -> None:
    settings = CollectorSettings(admin_token=TOKEN, retention_days=0)
    ids = [f"install-{i}" for i in range(11)]
    with running(settings=settings) as c, c.client() as http:
        _seed(http)
        refused = http.post("/v1/deletions", json={"install_ids": ids})
        assert refused.status_code == 401 and "admin token" in refused.json()["error"]
        wrong = http.post("/v1/deletions", json={"install_ids": ids}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert c.store.summary()["events"] == 13
        ok = http.post("/v1/deletions", json={"install_ids": ids}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 202
        assert _wait_done(http, ok.json()["id"])["events_deleted"] == 12


def test_self_service_deletions_are_rate_limited_globally() -> None:
    settings = CollectorSettings(admin_token=TOKEN, retention_days=0)
    with running(settings=settings) as c, c.client() as http:
        answers = [http.post("/v1/deletions", json={"install_ids": [f"x-{i}"]}) for i in range(25)]
        statuses = [a.status_code for a in answers]
        assert statuses[:20] == [202] * 20  # the burst
        limited = [a for a in answers if a.status_code == 429]
        assert limited and int(limited[0].headers["Retry-After"]) >= 1
        # Operators are not held by the self-service limit.
        admin = http.post("/v1/deletions", json={"install_ids": ["y"]}, headers={"Authorization": f"Bearer {TOKEN}"})
        assert admin.status_code == 202


def test_a_deletion_is_ordered_after_the_batches_received_before_it(collector: Collector) -> None:
    with collector.client() as http:
        events = [event(install_id="install-a") for _ in range(50)]
        assert http.post("/v1/batch", json=batch(*events)).status_code == 200
        r = http.post("/v1/deletions", json={"install_ids": ["install-a"]})
        assert _wait_done(http, r.json()["id"])["events_deleted"] == 50
        # Later events of a deleted install are new data and are stored (it may have re-enabled telemetry).
        assert http.post("/v1/batch", json=batch(event(install_id="install-a"))).status_code == 200
        assert collector.store.summary()["events"] == 1


def test_bad_deletion_requests_are_refused(collector: Collector) -> None:
    with collector.client() as http:
        for body, phrase in ((b"{", "invalid JSON"), (b"{}", "install_ids"), (b'{"install_ids": []}', "install_ids"),
                             (b'{"install_ids": [1]}', "install_ids[0]"),
                             (json.dumps({"install_ids": ["x" * 500]}).encode(), "install_ids[0]")):
            r = http.post("/v1/deletions", content=body)
            assert r.status_code == 400 and phrase in r.json()["error"], (body, r.text)
        assert http.get("/v1/deletions/no-such-id").status_code == 404
