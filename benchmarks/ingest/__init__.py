"""Collector ingestion benchmark: `.venv/bin/python -m benchmarks.ingest`."""
