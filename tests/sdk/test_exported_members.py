"""The SDK's public surface is pinned: adding or removing a name is a deliberate change (like httpx's test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import blindai_telemetry


def test_all_is_the_documented_public_surface() -> None:
    assert set(blindai_telemetry.__all__) == {
        "Telemetry", "ClientInfo", "Transport", "SendResult", "Outcome", "HttpTransport", "AmplitudeTransport",
        "InMemoryTransport", "__version__", "privacy",
    }
    for name in blindai_telemetry.__all__:
        assert getattr(blindai_telemetry, name) is not None


def test_importing_the_sdk_does_not_import_the_collector_dependencies(tmp_path: Path) -> None:
    """`import blindai_telemetry` must stay light: the SDK lives inside other people's processes."""
    code = (
        "import sys, blindai_telemetry\n"
        "t = blindai_telemetry.Telemetry('a', '1', endpoint='http://127.0.0.1:9')\n"
        "heavy = {'fastapi', 'duckdb', 'pyarrow', 'uvicorn', 'msgspec', 'starlette', 'pydantic', 'httpx',"
        " 'numpy', 'onnxruntime', 'clickhouse_connect', 'prometheus_client'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
        "t.shutdown(0.1)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"BLINDAI_TELEMETRY_CONFIG_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "CI": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
