"""Test doubles shipped with the package: a fake Amplitude service (the SDK's fake is `InMemoryTransport`)."""

from blindai_telemetry.testing.fake_amplitude import FakeAmplitude, FakeAmplitudeState

__all__ = ["FakeAmplitude", "FakeAmplitudeState"]
