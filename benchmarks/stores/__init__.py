"""Store benchmarks: `python -m benchmarks.stores` prints write, dedup and deletion figures and their ratios."""
