"""Reliability suites: faults, load, hostile input and privacy leaks (issue 8)."""
