"""The per-install rate limit: 1,000 events/s averaged over 10 s (a 10,000-event burst), then 429 + Retry-After."""

from __future__ import annotations

from collector_helpers import batch, event, running

from blindai_telemetry.collector.ratelimit import InstallRateLimiter, TokenBucket
from blindai_telemetry.collector.settings import CollectorSettings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_install_may_send_a_burst_of_ten_thousand_then_a_thousand_a_second() -> None:
    clock = Clock()
    limiter = InstallRateLimiter(1000.0, 10.0, clock=clock)
    for _ in range(5):
        assert limiter.take({"a": 2000}) == {}
    assert limiter.take({"a": 1}) == {"a": 1}
    assert limiter.retry_after({"a": 500}) == 1
    clock.now += 0.5
    assert limiter.take({"a": 500}) == {}
    assert limiter.take({"b": 2000}) == {}  # another install has its own bucket


def test_a_batch_is_charged_all_or_nothing() -> None:
    limiter = InstallRateLimiter(1000.0, 10.0, clock=Clock())
    assert limiter.take({"a": 9_500}) == {}
    assert limiter.take({"a": 1_000, "b": 10}) == {"a": 1_000}
    assert limiter.take({"b": 10_000}) == {}  # b was not charged by the refused batch


def test_the_table_of_installs_stays_bounded() -> None:
    clock = Clock()
    limiter = InstallRateLimiter(1000.0, 10.0, max_installs=100, clock=clock)
    for i in range(1000):
        limiter.take({f"install-{i}": 1})
    assert len(limiter._buckets) <= 101


def test_token_bucket_waits_are_computed_from_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(1.0, 2.0, clock=clock)
    assert bucket.take() == 0.0 and bucket.take() == 0.0
    assert bucket.take() == 1.0
    clock.now += 1.0
    assert bucket.take() == 0.0


def test_a_throttled_install_gets_429_with_retry_after_and_nothing_stored() -> None:
    settings = CollectorSettings(rate_limit_per_s=10.0, rate_window=10.0, retention_days=0)  # burst of 100
    with running(settings=settings) as c, c.client() as http:
        burst = [event(install_id="busy-install") for _ in range(100)]
        assert http.post("/v1/batch", json=batch(*burst)).status_code == 200
        r = http.post("/v1/batch", json=batch(event(install_id="busy-install"), event(install_id="quiet")))
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "rate limit" in r.json()["error"]
        assert http.post("/v1/batch", json=batch(event(install_id="quiet"))).status_code == 200
        amp = {"api_key": "k", "events": [{"event_type": "server_started", "device_id": "busy-install"}] * 3}
        throttled = http.post("/2/httpapi", json=amp)
        assert throttled.status_code == 429 and "busy-install" in throttled.json()["throttled_devices"]
        assert "Retry-After" in throttled.headers
    assert c.store.summary()["events"] == 101


def test_tokens_taken_for_a_batch_that_was_not_stored_are_given_back() -> None:
    limiter = InstallRateLimiter(1000.0, 10.0, clock=Clock())
    assert limiter.take({"a": 10_000}) == {}
    limiter.give_back({"a": 4_000})
    assert limiter.take({"a": 4_000}) == {}
    assert limiter.take({"a": 1}) == {"a": 1}
