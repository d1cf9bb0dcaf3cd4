"""Tests of the SDK (`blindai_telemetry` and its private modules)."""
