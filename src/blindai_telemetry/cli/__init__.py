"""The `blindai-telemetry` command line: user controls and operator commands."""
