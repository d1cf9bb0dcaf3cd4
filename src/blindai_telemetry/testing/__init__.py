"""Test doubles shipped with the package: a fake Amplitude service, and `chdb_http` (a ClickHouse HTTP front to
chDB, imported by name: it needs the `test` extra). The SDK's fake is `InMemoryTransport`."""

from blindai_telemetry.testing.fake_amplitude import FakeAmplitude, FakeAmplitudeState

__all__ = ["FakeAmplitude", "FakeAmplitudeState"]
