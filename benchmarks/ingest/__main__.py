"""Entry point: `.venv/bin/python -m benchmarks.ingest [--duration S] [--loaders N] [--connections N]`."""

from benchmarks.ingest.run import main

main()
