"""`python -m benchmarks.robustness`: the hostile corpus and the fuzzers against a live collector, counted."""
