"""The public usage report (`blindai-telemetry publish`): aggregates, disclosure control, and the static site."""
