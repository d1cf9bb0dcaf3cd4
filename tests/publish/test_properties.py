"""Properties over any fleet (Hypothesis, real DuckDB): every published cell stands for at least k installs, and a
value left out is named nowhere in the output directory."""

from __future__ import annotations

import re
import tempfile
import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blindai_telemetry.publish import figures, render
from blindai_telemetry.publish.disclosure import Disclosure, key_from_seed
from blindai_telemetry.stores import open_store

from .conftest import output_text

TODAY = date(2026, 3, 1)
START, END = figures.period(28, TODAY)
VERSIONS = ["0.6.3", "0.6.2", "1.0.0", "2.10.1", "0.6.3+acme", "1.2.3.4.5"]

installs = st.lists(st.fixed_dictionaries({
    "version": st.sampled_from(VERSIONS),
    "mode": st.sampled_from([None, "hardware", "simulation", "dcsv3", "turbo"]),
    "os_name": st.sampled_from(["Linux", "Darwin", "Windows", "Plan9"]),
    "arch": st.sampled_from(["x86_64", "arm64", "riscv64"]),
    "ci": st.booleans(),
    "days": st.lists(st.integers(0, 27), min_size=1, max_size=3),
    "duration_ms": st.floats(1, 500),
}), max_size=40)


def _rows(fleet: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for i, spec in enumerate(fleet):
        install = str(uuid.UUID(int=i + 1, version=4))
        for j, day in enumerate(spec["days"]):
            when = datetime.combine(START + timedelta(days=day), time(), tzinfo=timezone.utc)
            rows.append({"event_id": str(uuid.UUID(int=(i + 1) * 1000 + j, version=4)), "install_id": install,
                         "event": "model_run" if spec["mode"] else "client_connected",
                         "time": int(when.timestamp() * 1000) + i * 1000 + j, "app_version": spec["version"],
                         "mode": spec["mode"], "os_name": spec["os_name"], "arch": spec["arch"], "is_ci": spec["ci"],
                         "duration_ms": spec["duration_ms"] if spec["mode"] else None, "ok": True})
    for row in rows:
        row["received_at"] = row["time"]
    return rows


def _truth(fleet: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    """Installs per value, from the fleet itself (each install reports one value per column)."""
    real = [s for s in fleet if not s["ci"]]
    return {"server_versions": Counter(s["version"] for s in real if s["mode"]),
            "client_versions": Counter(s["version"] for s in real if not s["mode"]),
            "modes": Counter(s["mode"] for s in real if s["mode"]),
            "os": Counter(s["os_name"] for s in real), "arch": Counter(s["arch"] for s in real)}


def named(value: str, text: str) -> bool:
    return re.search(rf"(?<![\w.+-]){re.escape(value)}(?![\w.+-])", text) is not None


@given(fleet=installs, k=st.integers(2, 6), seed=st.text(max_size=4))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_every_published_cell_has_k_installs_and_no_suppressed_value_is_named(
        fleet: list[dict[str, Any]], k: int, seed: str) -> None:
    store = open_store(url="duckdb://:memory:")
    try:
        store.write(_rows(fleet))
        aggregates = figures.gather(store, START, END)
    finally:
        store.close()
    truth = _truth(fleet)
    report = render.build(aggregates, Disclosure(k, 1.0, key_from_seed(seed), "p"))
    published = {r["value"] for rows in report["tables"].values() for r in rows}
    for table, rows in report["tables"].items():
        for row in rows:
            assert truth[table][row["value"]] >= k and row["installs"] >= k
    for latency in report["latency_ms"]:
        assert truth["modes"][latency["mode"]] >= k
    with tempfile.TemporaryDirectory() as tmp:
        render.write(Path(tmp) / "site", report)
        text = "\n".join(output_text(Path(tmp) / "site").values())
    hidden = {v for counts in truth.values() for v in counts} - published
    for value in hidden:
        assert not named(value, text), value
