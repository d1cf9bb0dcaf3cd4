"""SDK benchmarks: our `track()` against the floor and four peer SDKs (see README.md; run `python -m benchmarks.sdk`)."""
