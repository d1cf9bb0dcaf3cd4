"""The robustness benchmark really runs (`--quick`: every 20th hostile case, a few generated inputs per
endpoint), so it cannot rot unnoticed. What the collector must answer is asserted in
tests/reliability/test_hostile_corpus.py and tests/collector/test_fuzz.py; this checks the counts add up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.sdk.runner import REPO


def test_quick_robustness_run_counts_every_case_and_finds_no_5xx(tmp_path: Path) -> None:
    out = tmp_path / "counts.json"
    command = [sys.executable, "-m", "benchmarks.robustness", "--quick", "--json", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=100, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| suite | endpoint | cases tried |" in done.stdout and "5xx: 0" in done.stdout
    counts = json.loads(out.read_text())
    suites = {key.split(" ", 1)[0] for key in counts["tried"]}
    assert suites == {"corpus", "schemathesis", "hypothesis"}
    for endpoint in ("/v1/batch", "/2/httpapi", "/blindai", "/v1/deletions"):
        for suite in ("corpus", "schemathesis"):
            assert counts["tried"][f"{suite} {endpoint}"] > 0
    for key, tried in counts["tried"].items():
        classes = counts["by_class"][key]
        assert classes["5xx"] == classes["other"] == 0
        assert classes["2xx"] + classes["4xx"] == tried
    assert counts["problems"] == []
