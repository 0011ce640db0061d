"""One benchmark at a time per Ollama server, across pytest-xdist workers.

Workers are separate processes sharing one server: requests that overlap compete for it and
change each other's numbers. Each worker takes an exclusive lock on a file named after the
server's URL (in the temporary directory) around every benchmark call, so the rest of the
suite still runs in parallel but the server sees one benchmark at a time. The operating
system drops the lock if a worker dies.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["HostLock"]


class HostLock:
    """An exclusive inter-process lock for one server URL (re-entrant within one holder)."""

    def __init__(self, host: str, directory: str | None = None) -> None:
        digest = hashlib.sha256(host.encode()).hexdigest()[:16]
        self.path = Path(directory or tempfile.gettempdir()) / f"pytest-ollama-bench-{digest}.lock"
        self._fd: int | None = None
        self._depth = 0

    def acquire(self) -> None:
        """Block until this process holds the lock."""
        if self._fd is not None:
            self._depth += 1
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._depth = fd, 1

    def release(self) -> None:
        """Let the next process in (no-op when not held)."""
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth:
            return
        fd, self._fd = self._fd, None
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> HostLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _lock(fd: int) -> None:
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
                return
            except OSError:
                time.sleep(0.01)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
