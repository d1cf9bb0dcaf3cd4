"""docs/privacy.md: its generated blocks match the code, and it covers every control a user has."""

from __future__ import annotations

from pathlib import Path

import pytest

from blindai_telemetry import catalogue
from blindai_telemetry.cli import _privacy_doc
from blindai_telemetry.collector.settings import CollectorSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "privacy.md"


def test_committed_page_equals_the_generated_text() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert _privacy_doc.render(text) == text, "run: python -m blindai_telemetry.cli._privacy_doc"


def test_check_fails_on_a_stale_copy_and_the_generator_fixes_it(tmp_path: Path) -> None:
    stale = tmp_path / "privacy.md"
    stale.write_text(DOC.read_text(encoding="utf-8").replace("| `input_bytes` |", "| `input_size` |"))
    assert _privacy_doc.main(["--check", "--path", str(stale)]) == 1
    assert _privacy_doc.main(["--path", str(stale)]) == 0
    assert stale.read_text(encoding="utf-8") == DOC.read_text(encoding="utf-8")
    assert _privacy_doc.main(["--check", "--path", str(stale)]) == 0


def test_a_missing_block_is_an_error() -> None:
    text = DOC.read_text(encoding="utf-8").replace("<!-- generated: retention -->", "")
    with pytest.raises(ValueError, match="retention"):
        _privacy_doc.render(text)


def test_every_catalogue_field_and_event_is_in_the_page() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in (*catalogue.FIELDS, *catalogue.EVENTS):
        assert f"`{name}`" in text
    for item in catalogue.NEVER_COLLECTED:
        assert item[1:] in text


def test_page_states_the_retention_period_from_the_collector_default() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"**{CollectorSettings().retention_days} days**" in text and "--retention-days" in text


@pytest.mark.parametrize("control", [
    "BLINDAI_DISABLE_TELEMETRY", "DO_NOT_TRACK", "blindai-telemetry disable", "enabled=False",
    "BLINDAI_TELEMETRY_DEBUG=1", "blindai-telemetry inspect", "blindai-telemetry id --reset",
    "blindai-telemetry delete-my-data", "User Privacy API", "is_ci", "first-run notice", "model_names=",
])
def test_page_explains_each_control(control: str) -> None:
    assert control in DOC.read_text(encoding="utf-8")


def test_the_first_run_notice_and_this_page_name_the_same_controls() -> None:
    from blindai_telemetry._notice import NOTICE

    text = DOC.read_text(encoding="utf-8")
    for control in ("BLINDAI_DISABLE_TELEMETRY=1", "DO_NOT_TRACK=1", "blindai-telemetry disable",
                    "blindai-telemetry catalogue", "blindai-telemetry inspect", "blindai-telemetry status"):
        assert control in NOTICE and control in text
