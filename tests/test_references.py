"""What the package tells its users points at things they have: no file the package does not ship (DESIGN.md, docs/
for the SDK's own messages), and only `blindai-telemetry` commands that exist."""

from __future__ import annotations

import re
from pathlib import Path

import blindai_telemetry
from blindai_telemetry._notice import NOTICE
from blindai_telemetry.cli.main import cli

PACKAGE = Path(blindai_telemetry.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_no_docstring_or_message_points_to_design_md() -> None:
    mentions = [str(p.relative_to(PACKAGE)) for p in SOURCES if "DESIGN.md" in p.read_text(encoding="utf-8")]
    assert mentions == []


def test_every_command_the_package_names_exists() -> None:
    named = {match.group(1) for p in SOURCES
             for match in re.finditer(r"`blindai-telemetry ([a-z][a-z-]*)", p.read_text(encoding="utf-8"))}
    assert {"status", "disable", "catalogue", "inspect", "delete-my-data"} <= named
    assert named - set(cli.commands) == set()


def test_the_first_run_notice_names_commands_not_paths() -> None:
    """pip users have no docs/ directory: the notice names commands they do have."""
    assert "docs/" not in NOTICE and ".md" not in NOTICE
    for command in ("status", "disable", "catalogue", "inspect"):
        assert f"`blindai-telemetry {command}`" in NOTICE
