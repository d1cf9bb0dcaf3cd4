"""Property: any valid rows a store accepts read back equal, in every store (Hypothesis)."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from blindai_telemetry.stores import EVENT_COLUMNS, Store
from blindai_telemetry.stores._rows import MAX_TIME_MS, MIN_TIME_MS

# Any Unicode text a store can keep as UTF-8 (no lone surrogates), NUL and control characters included.
_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "VARCHAR": _text,
    "TIMESTAMP": st.integers(MIN_TIME_MS, MAX_TIME_MS),
    "DOUBLE": st.floats(allow_nan=False, allow_infinity=False),
    "BIGINT": st.integers(-(2**63), 2**63 - 1),
    "INTEGER": st.integers(-(2**31), 2**31 - 1),
    "BOOLEAN": st.booleans(),
    "JSON": st.dictionaries(_text, _json, max_size=4),
}
_SET_BY_TEST = ("event_id", "install_id")


@st.composite
def _row(draw: st.DrawFn) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for column in EVENT_COLUMNS:
        if column.name in _SET_BY_TEST:
            continue
        value = _VALUES[column.type]
        row[column.name] = draw(value if not column.nullable else st.none() | value)
    return row


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(_row(), min_size=1, max_size=5))
def test_any_rows_written_read_back_equal(store: Store, rows: list[dict[str, Any]]) -> None:
    """Every column type, any value in range, NULLs anywhere allowed: what goes in comes out."""
    install_id = str(uuid.uuid4())  # the store is shared by the examples; each reads back its own rows
    for row in rows:
        row["event_id"], row["install_id"] = str(uuid.uuid4()), install_id
    result = store.write(rows)
    assert (result.inserted, result.duplicates) == (len(rows), 0)
    expected = sorted(({c.name: row.get(c.name) for c in EVENT_COLUMNS} for row in rows),
                      key=lambda r: (r["time"], r["event_id"]))
    assert store.rows(install_id=install_id) == expected
