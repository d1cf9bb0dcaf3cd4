"""One name per platform (`stores.platform_names`): the mapping and the SQL both stores run agree."""

from __future__ import annotations

import duckdb
import pytest

from blindai_telemetry.stores.platform_names import ARCH_NAMES, OS_NAMES, normalise, sql


@pytest.mark.parametrize(("column", "raw", "name"), [
    ("arch", "AMD64", "x86_64"), ("arch", "amd64", "x86_64"), ("arch", "x64", "x86_64"), ("arch", "x86_64", "x86_64"),
    ("client_arch", "aarch64", "arm64"), ("arch", "ARM64", "arm64"), ("arch", "arm64", "arm64"),
    ("os_name", "linux", "Linux"), ("client_os_name", "DARWIN", "Darwin"), ("os_name", "Windows", "Windows"),
    ("arch", "riscv64", "riscv64"), ("os_name", "FreeBSD", "FreeBSD"), ("arch", None, None),
    ("app", "AMD64", "AMD64"),  # only platform columns are mapped
])
def test_every_spelling_gets_one_name_in_python_and_in_sql(column: str, raw: str | None, name: str | None) -> None:
    assert normalise(column, raw) == name
    with duckdb.connect() as conn:
        (got,) = conn.execute(f"SELECT {sql(column, 'v')} FROM (SELECT CAST(? AS VARCHAR) AS v)", [raw]).fetchone()
    assert got == name


def test_the_names_are_the_ones_design_fixes() -> None:
    assert set(ARCH_NAMES.values()) == {"x86_64", "arm64"}
    assert set(OS_NAMES.values()) == {"Linux", "Darwin", "Windows"}
