"""The stores' Arrow conversion leaves pandas unimported (pyarrow would import it for a question it can settle)."""

from __future__ import annotations

import subprocess
import sys

import pytest

_SCRIPT = """
import sys
from blindai_telemetry.stores import _arrow
import pyarrow as pa
pa.array(["a list, as the stores hand pyarrow"])
assert "pandas" not in sys.modules, "pa.array imported pandas"
import pandas
assert pa.table({"a": [1]}).to_pandas()["a"].tolist() == [1]
assert pa.array(pandas.Series([1, 2])).to_pylist() == [1, 2]
"""


def test_arrow_conversion_does_not_import_pandas_and_pandas_still_works_after() -> None:
    """+46 MB of the collector's RSS was pandas, imported by pyarrow's first `pa.array()` of a list."""
    pytest.importorskip("pandas")  # installed with chDB (the test extras); without it there is nothing to check
    done = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
