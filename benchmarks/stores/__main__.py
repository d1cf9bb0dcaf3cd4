"""Entry point: `.venv/bin/python -m benchmarks.stores [--rows N] [--write-rows N]`."""

from benchmarks.stores.run import main

main()
