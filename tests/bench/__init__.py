"""Smoke tests for the SDK benchmarks in benchmarks/sdk (they must keep running, not be fast)."""
