"""`blindai-telemetry` commands: user (not written yet)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
