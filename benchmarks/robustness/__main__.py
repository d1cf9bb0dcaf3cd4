"""`python -m benchmarks.robustness [--quick]`: how many hostile and generated inputs a live collector took, per
endpoint, and how it answered (2xx, 4xx, 5xx — the last must be 0).

A real collector (uvicorn in a thread, 127.0.0.1) over a real DuckDB file in a temporary directory receives:
1. the hostile corpus of tests/reliability/hostile_corpus.py, every case (about 1,800);
2. schemathesis over its OpenAPI description, `--examples` per operation and mode (positive for every
   operation, negative too for the POST ones);
3. Hypothesis over the three wire formats, `--hypothesis` bodies per strategy (any JSON, near-valid, plausible).
Then it times the screening of free text on hostile values against ordinary ones (`screening.py`).
Every answer is checked like a corpus case (never a 5xx; a refusal is a JSON error; a refused body stores
nothing). Exits 1 when any answer broke the contract, and lists them.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tests") not in sys.path:
    sys.path.insert(0, str(REPO / "tests"))  # the corpus lives with the tests: `reliability` is a package there

from benchmarks.robustness import fuzz, screening  # noqa: E402
from blindai_telemetry.collector.settings import CollectorSettings  # noqa: E402
from blindai_telemetry.stores import DuckDBStore  # noqa: E402
from reliability import hostile_corpus  # noqa: E402 - importable once tests/ is on sys.path
from reliability.collector_support import running  # noqa: E402

BUDGETS = {"full": {"examples": 200, "hypothesis": 600, "corpus_every": 1},
           "quick": {"examples": 3, "hypothesis": 5, "corpus_every": 20}}


def table(tally: hostile_corpus.Tally, seconds: dict[str, float]) -> str:
    rows = ["| suite | endpoint | cases tried | 2xx | 4xx | 5xx | contract broken |", "|---|---|---|---|---|---|---|"]
    broken: dict[str, int] = {}
    for problem in tally.problems:
        key = next((k for k in tally.tried if problem.startswith(k + " ") or problem.startswith(k + ":")), "?")
        broken[key] = broken.get(key, 0) + 1
    for key in tally.tried:
        suite, _, endpoint = key.partition(" ")
        c = tally.by_class[key]
        rows.append(f"| {suite} | {endpoint} | {tally.tried[key]:,} | {c['2xx']:,} | {c['4xx']:,} | "
                    f"{c['5xx'] + c['other']:,} | {broken.get(key, 0):,} |")
    total = sum(tally.tried.values())
    fivexx = sum(c["5xx"] + c["other"] for c in tally.by_class.values())
    timing = ", ".join(f"{name} {s:.0f} s" for name, s in seconds.items())
    rows.append(f"\ntotal: {total:,} cases tried, 5xx: {fivexx}, contract broken: {len(tally.problems)} ({timing})")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.robustness", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: every 20th corpus case, 3-5 examples")
    parser.add_argument("--examples", type=int, help="schemathesis examples per operation and mode")
    parser.add_argument("--hypothesis", type=int, help="Hypothesis bodies per wire-format strategy")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args(argv)
    budget = dict(BUDGETS["quick" if args.quick else "full"])
    if args.examples is not None:
        budget["examples"] = args.examples
    if args.hypothesis is not None:
        budget["hypothesis"] = args.hypothesis

    tally = hostile_corpus.Tally()
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-robustness-") as tmp:
        store = DuckDBStore(Path(tmp) / "t.duckdb")
        try:
            with running(store, CollectorSettings(retention_days=0)) as collector, collector.client() as http:
                def count_rows() -> int:
                    return int(store.fetch("SELECT count(*) AS n FROM events")[0]["n"])

                cases = hostile_corpus.corpus()[:: budget["corpus_every"]]
                corpus = hostile_corpus.Tally()
                start = time.monotonic()
                hostile_corpus.run(http, cases, count_rows, corpus)
                seconds["corpus"] = time.monotonic() - start
                for key, n in corpus.tried.items():  # prefixed, as the fuzzers' rows are
                    tally.tried[f"corpus {key}"] = n
                    tally.by_class[f"corpus {key}"] = corpus.by_class[key]
                tally.problems += [f"corpus {p}" for p in corpus.problems]

                start = time.monotonic()
                fuzz.schemathesis_run(collector.url, budget["examples"], tally)
                seconds["schemathesis"] = time.monotonic() - start
                start = time.monotonic()
                fuzz.hypothesis_run(http, budget["hypothesis"], count_rows, tally)
                seconds["hypothesis"] = time.monotonic() - start
                healthy = http.get("/healthz").status_code == 200
        finally:
            store.close()

    print(table(tally, seconds))
    print(f"collector healthy after the run: {'yes' if healthy else 'NO'}")
    screened = screening.measure(repeat=1 if args.quick else 3)
    print(screening.report(screened))
    for problem in tally.problems[:100]:
        print("  BROKEN:", problem)
    if args.json:
        args.json.write_text(json.dumps({"budget": budget, "tried": tally.tried, "by_class": tally.by_class,
                                         "problems": tally.problems, "seconds": seconds, "screening": screened},
                                        indent=1))
    return 0 if healthy and not tally.problems else 1


if __name__ == "__main__":
    sys.exit(main())
