"""delivery.json: the counts of several processes of one install add up, none lost to another's write."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from blindai_telemetry import _delivery, _files


def test_writers_at_the_same_time_lose_no_increment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each writer is a DeliveryLog of its own with its own file handles, as another process would be: the
    lock file serialises their read-add-write (without it, three quarters of the increments were lost here)."""
    # Four writers in one interpreter share the GIL: one may wait past the worker's short timeout, after which
    # it writes unlocked by design (tested below). The lock itself is what is tested here.
    monkeypatch.setattr(_delivery, "LOCK_TIMEOUT", 30.0)
    writers, writes = 4, 50
    start = threading.Barrier(writers)

    def write() -> None:
        log = _delivery.DeliveryLog(tmp_path, "http://127.0.0.1:9")
        start.wait()
        for _ in range(writes):
            log.attempted(1, None, 0)
            log.write()

    threads = [threading.Thread(target=write) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _delivery.read(tmp_path)["sent"] == writers * writes


def test_a_lock_held_elsewhere_delays_a_writer_only_up_to_its_timeout(tmp_path: Path) -> None:
    lock = tmp_path / _delivery.LOCK_FILE
    with _files.exclusive(lock, timeout=1.0) as held:
        assert held
        with _files.exclusive(lock, timeout=0.05) as second:
            assert not second  # another holder: not had, and the caller goes on
    with _files.exclusive(lock, timeout=0.05) as again:
        assert again  # released when the first holder left


def test_unreadable_json_reads_as_empty_and_writes_are_atomic(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text("{half")
    assert _files.read_json(path) == {}
    assert _files.write_json_atomic(path, {"sent": 3})
    assert _files.read_json(path) == {"sent": 3} and list(tmp_path.iterdir()) == [path]
