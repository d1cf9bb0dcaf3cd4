"""The collector wires the Amplitude forwarder: stored events reach Amplitude, deleted installs stop reaching it."""

from __future__ import annotations

import time
from pathlib import Path

from collector_helpers import batch, event, running

from blindai_telemetry.collector.settings import CollectorSettings
from blindai_telemetry.testing import FakeAmplitude


def _until(condition: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_accepted_events_are_forwarded_and_deletions_are_passed_on(tmp_path: Path) -> None:
    with FakeAmplitude() as fake:
        settings = CollectorSettings(
            retention_days=0, forward_amplitude_key=fake.state.api_key, forward_amplitude_url=fake.url,
            forward_amplitude_privacy_url=fake.url, forward_amplitude_secret_key=fake.state.secret_key,
            forward_outbox=str(tmp_path / "outbox.sqlite"))
        kept, doomed = event(install_id="install-kept-1"), event(install_id="install-doomed-1")
        with running(settings=settings) as c, c.client() as http:
            assert http.post("/v1/batch", json=batch(kept, doomed)).status_code == 200
            _until(lambda: len(fake.state.insert_ids()) == 2)
            assert sorted(fake.state.insert_ids()) == sorted([kept["event_id"], doomed["event_id"]])
            assert all("ip" not in e for e in fake.state.events)

            r = http.post("/v1/deletions", json={"install_ids": ["install-doomed-1"]})
            assert r.status_code == 202
            _until(lambda: http.get(f"/v1/deletions/{r.json()['id']}").json()["status"] == "done")
            _until(lambda: fake.state.deleted_user_ids == ["install-doomed-1"])
            later = event(install_id="install-doomed-1")
            fresh = event(install_id="install-kept-1")
            assert http.post("/v1/batch", json=batch(later, fresh)).status_code == 200
            _until(lambda: fresh["event_id"] in fake.state.insert_ids())
            # Stored again (new data), but never forwarded: Amplitude would keep it after the deletion.
            assert later["event_id"] not in fake.state.insert_ids()
            assert c.store.summary()["events"] == 3
            # The forwarder's state is on /metrics: three forwarded, one blocked, nothing left in the outbox.
            _until(lambda: "blindai_collector_forward_outbox_events 0.0" in http.get("/metrics").text)
            page = http.get("/metrics").text
            assert "blindai_collector_forward_forwarded 3.0" in page
            assert "blindai_collector_forward_blocked 1.0" in page
            assert "blindai_collector_forward_deletions_sent 1.0" in page
