"""The user commands work with the SDK alone: running them imports none of the collector's dependencies."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("fastapi", "uvicorn", "duckdb", "pyarrow", "msgspec", "prometheus_client", "onnxruntime", "httpx")

SCRIPT = f"""
import sys
from blindai_telemetry.cli.main import cli
for args in (["status"], ["id"], ["inspect"], ["catalogue"], ["disable"], ["enable"]):
    cli(args, standalone_mode=False)
loaded = [name for name in {HEAVY!r} if name in sys.modules]
assert not loaded, loaded
"""


def test_user_commands_import_no_collector_dependency() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                            env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    assert "Telemetry:" in result.stdout and "install_id" in result.stdout
