"""Fixtures of the collector tests (the helpers live in `collector_helpers`)."""

from __future__ import annotations

from collector_helpers import collector

__all__ = ["collector"]
