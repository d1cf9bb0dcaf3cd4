"""One name per platform: `x86_64` whether Windows said `AMD64` or Linux `x86_64`, `arm64` for `aarch64` too.

`platform.machine()` names one architecture differently on each OS, and senders older than the SDK (BlindAI
servers, Amplitude SDKs) spell OS names their own way. The mapping lives here once; every query of both stores
reads the stored values through `sql()`, so rows stored before this mapping existed are counted under the same
names, and nothing is rewritten in the `events` table.
"""

from __future__ import annotations

#: Stored value, lower-cased -> the name the dashboard shows. Values not listed are shown as stored.
ARCH_NAMES: dict[str, str] = {
    "x86_64": "x86_64", "amd64": "x86_64", "x64": "x86_64", "x86-64": "x86_64",
    "arm64": "arm64", "aarch64": "arm64", "armv8": "arm64",
}
OS_NAMES: dict[str, str] = {"linux": "Linux", "darwin": "Darwin", "windows": "Windows"}

#: Which mapping each column of `events` goes through.
COLUMNS: dict[str, dict[str, str]] = {
    "arch": ARCH_NAMES, "client_arch": ARCH_NAMES, "os_name": OS_NAMES, "client_os_name": OS_NAMES,
}


def normalise(column: str, value: str | None) -> str | None:
    """The name `sql(column)` gives `value` (the same rule in Python, for tests and tools)."""
    names = COLUMNS.get(column)
    if names is None or value is None:
        return value
    return names.get(value.lower(), value)


def sql(column: str, source: str | None = None) -> str:
    """`column` of `events` (read from the expression `source`, by default the column itself) under its one
    name: a CASE both DuckDB and ClickHouse run. Columns without a mapping come back unchanged."""
    expr = source or column
    names = COLUMNS.get(column)
    if names is None:
        return expr
    # Keys are lower-case identifiers from the mapping above: nothing here comes from a request.
    cases = " ".join(f"WHEN '{raw}' THEN '{name}'" for raw, name in names.items())
    return f"(CASE lower({expr}) {cases} ELSE {expr} END)"
