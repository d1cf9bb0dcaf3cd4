"""Test doubles shipped with the package: a fake Amplitude service, `chdb_http` (a ClickHouse HTTP front to
chDB) and `browser` (Debian's headless Chromium), both imported by name: they need the `test` extra. The SDK's fake
is `InMemoryTransport`."""

from blindai_telemetry.testing.fake_amplitude import FakeAmplitude, FakeAmplitudeState

__all__ = ["FakeAmplitude", "FakeAmplitudeState"]
