"""Entry point of `blindai-telemetry`: one click group; each command group lives in its own module.

Command modules import their heavy dependencies (FastAPI, DuckDB, onnxruntime) inside the command, so that
`blindai-telemetry status` works with the SDK alone installed.
"""

from __future__ import annotations

import click

from blindai_telemetry import __version__
from blindai_telemetry.cli import demo, export, publish, report, serve, user


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="blindai-telemetry")
def cli() -> None:
    """BlindAI Telemetry: see and control what is sent, and run the collector."""


for module in (user, serve, report, demo, export, publish):
    for command in module.COMMANDS:
        cli.add_command(command)


def main() -> None:
    cli()
