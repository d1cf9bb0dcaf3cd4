"""The user's settings: opt-out resolution order, install id persistence, the transparency log's bounds."""

from __future__ import annotations

import os
import stat
import uuid
from pathlib import Path

import pytest

from blindai_telemetry import _config
from blindai_telemetry.privacy import telemetry_decision


def test_environment_kill_switch_wins_over_enable(clean_telemetry_env: Path) -> None:
    _config.save_user_config(_config.UserConfig(enabled=True))
    decision = telemetry_decision({**os.environ, "DO_NOT_TRACK": "1"})
    assert (decision.enabled, decision.source) == (False, "DO_NOT_TRACK")
    assert telemetry_decision().source == "config"


def test_disabled_in_config_and_by_argument() -> None:
    assert telemetry_decision(argument=False).source == "argument"
    _config.save_user_config(_config.UserConfig(enabled=False))
    decision = telemetry_decision()
    assert (decision.enabled, decision.source) == (False, "config")


def test_decision_reads_the_config_directory_the_environment_names(tmp_path: Path) -> None:
    _config.save_user_config(_config.UserConfig(enabled=False), tmp_path / "elsewhere")
    assert telemetry_decision().enabled is True
    assert telemetry_decision({"BLINDAI_TELEMETRY_CONFIG_DIR": str(tmp_path / "elsewhere")}).enabled is False


def test_decision_reads_but_never_writes(clean_telemetry_env: Path) -> None:
    """Disabled means no file: resolving the opt-out must not create the config directory."""
    telemetry_decision({**os.environ, "BLINDAI_DISABLE_TELEMETRY": ""})
    telemetry_decision()
    assert not clean_telemetry_env.exists()


def test_install_id_is_a_persisted_uuid4() -> None:
    first, persisted = _config.get_or_create_install_id()
    assert persisted and uuid.UUID(first).version == 4
    assert _config.get_or_create_install_id() == (first, True)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_install_id_in_memory_when_config_dir_is_read_only(clean_telemetry_env: Path) -> None:
    clean_telemetry_env.mkdir()
    clean_telemetry_env.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        _, persisted = _config.get_or_create_install_id()
        assert persisted is False
    finally:
        clean_telemetry_env.chmod(stat.S_IRWXU)


def test_install_id_not_persisted_when_config_path_is_unusable(tmp_path: Path) -> None:
    """A config 'directory' that is a file (works as root too): the id lives in memory for this process."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    install_id, persisted = _config.get_or_create_install_id(blocker)
    assert persisted is False and uuid.UUID(install_id)


def test_reset_remembers_the_old_id_and_forgets_the_hash_key() -> None:
    old, _ = _config.get_or_create_install_id()
    cfg = _config.load_user_config()
    cfg.hash_key = "ab" * 16
    _config.save_user_config(cfg)
    new, previous = _config.reset_install_id()
    cfg = _config.load_user_config()
    assert previous == old and new != old and cfg.previous_install_ids == [old] and cfg.hash_key is None


def test_corrupt_config_reads_as_defaults(clean_telemetry_env: Path) -> None:
    clean_telemetry_env.mkdir()
    (clean_telemetry_env / _config.CONFIG_FILE).write_text("{not json")
    assert _config.load_user_config() == _config.UserConfig()


def test_sent_log_is_bounded_and_keeps_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_config, "SENT_LOG_MAX_BYTES", 2_000)
    for i in range(100):
        assert _config.append_sent_log({"sent_at": i, "payload": {"n": i}})
    records = _config.read_sent_log(limit=0)
    total = sum(p.stat().st_size for p in _config.config_dir().glob(_config.SENT_LOG + "*"))
    assert total <= 2 * 2_000
    assert records[-1]["sent_at"] == 99
    assert [r["sent_at"] for r in records] == sorted(r["sent_at"] for r in records)
    assert _config.read_sent_log(limit=3)[0]["sent_at"] == 97
