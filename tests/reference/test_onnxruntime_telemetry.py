"""The reference server turns off onnxruntime's own telemetry (Microsoft 1DS, on by default in official builds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LOAD_A_MODEL = (
    "from blindai_telemetry.reference import inference\n"
    "from blindai_telemetry.reference.models import linear_model\n"
    "inference.load_model('m', linear_model())\n"
)


def _files_written(tmp_path: Path, name: str, **extra_env: str) -> list[Path]:
    """Run the server's model loading in a fresh process with its own HOME and TMPDIR; list what appeared."""
    home, tmp = tmp_path / name / "home", tmp_path / name / "tmp"
    home.mkdir(parents=True)
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("ORT_DISABLE_TELEMETRY", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), TMPDIR=str(tmp), **extra_env)
    subprocess.run([sys.executable, "-c", LOAD_A_MODEL], env=env, check=True, timeout=60)
    return sorted(p for root in (home, tmp) for p in root.rglob("*"))


def test_loading_a_model_leaves_no_onnxruntime_device_id_or_event_store(tmp_path: Path) -> None:
    assert _files_written(tmp_path, "default") == []


def test_an_explicit_user_choice_is_kept_and_the_check_can_see_the_files(tmp_path: Path) -> None:
    """Control: with ORT_DISABLE_TELEMETRY=0 set by the user, onnxruntime keeps its device id and session file,
    which shows the test above would notice them."""
    written = {p.name for p in _files_written(tmp_path, "opted-in", ORT_DISABLE_TELEMETRY="0")}
    assert {"deviceid", ".ses"} <= written
