"""Benchmark: the reference server's run_model latency with telemetry on, off, and with the collector black-holed."""
