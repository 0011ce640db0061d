"""The per-server lock that makes pytest-xdist workers take turns (filelock underneath)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_ollama_bench.hostlock import HostLock
from pytest_ollama_bench.hostlock import HostLockTimeout

HOST = "http://127.0.0.1:11434"

HOLDER = """
import sys, time
from pytest_ollama_bench.hostlock import HostLock
lock = HostLock(sys.argv[1], directory=sys.argv[2])
lock.acquire()
print("held", flush=True)
time.sleep(float(sys.argv[3]))
lock.release()
"""


def _hold_in_another_process(tmp_path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, HOST, str(tmp_path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "held"
    proc.stdout.close()  # it prints nothing more
    return proc


def test_one_file_per_server_in_the_given_directory(tmp_path: Path) -> None:
    a = HostLock(HOST, directory=str(tmp_path))
    b = HostLock(HOST, directory=str(tmp_path))
    c = HostLock("http://127.0.0.1:11435", directory=str(tmp_path))
    assert a.path == b.path != c.path
    assert a.path.parent == tmp_path
    assert "11434" not in a.path.name  # a digest: no URL (or credentials) in file names


def test_a_second_process_waits_for_the_holder(tmp_path: Path) -> None:
    holder = _hold_in_another_process(tmp_path, 0.5)
    lock = HostLock(HOST, directory=str(tmp_path), timeout=30)
    started = time.monotonic()
    with lock:
        waited = time.monotonic() - started
        assert lock.is_locked
    assert holder.wait(timeout=30) == 0
    assert waited >= 0.3  # the holder kept it for 0.5 s


def test_waiting_longer_than_the_timeout_is_an_error_naming_the_server(tmp_path: Path) -> None:
    holder = _hold_in_another_process(tmp_path, 5)
    try:
        lock = HostLock(HOST, directory=str(tmp_path), timeout=0.2, label="http://gpu:11434")
        with pytest.raises(HostLockTimeout) as info:
            lock.acquire()
        message = str(info.value)
        assert "waited 0.2 s" in message
        assert "http://gpu:11434" in message
        assert "--ollama-lock-timeout" in message
        assert "--ollama-no-serialize" in message
        assert not lock.is_locked
    finally:
        holder.kill()
        holder.wait()


def test_re_entrant_within_a_process_and_release_when_unheld_is_harmless(tmp_path: Path) -> None:
    lock = HostLock(HOST, directory=str(tmp_path), timeout=1)
    lock.release()  # not held: nothing happens
    with lock, lock:
        assert lock.is_locked
    assert not lock.is_locked
    other = HostLock(HOST, directory=str(tmp_path), timeout=1)
    with other:  # free again for the next holder
        assert other.is_locked


def test_a_dead_holder_does_not_block_the_next(tmp_path: Path) -> None:
    holder = _hold_in_another_process(tmp_path, 60)
    holder.kill()
    holder.wait()
    with HostLock(HOST, directory=str(tmp_path), timeout=5) as lock:
        assert lock.is_locked
