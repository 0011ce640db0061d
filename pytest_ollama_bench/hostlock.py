"""One benchmark at a time per server, across pytest-xdist workers.

Workers are separate processes sharing one server: requests that overlap compete for it and
change each other's numbers. Each worker holds an exclusive lock on a file named after the
server's URL (in the temporary directory) around every benchmark call, so the rest of the
suite still runs in parallel but the server sees one benchmark at a time. The lock is
:mod:`filelock`'s (``fcntl``/``msvcrt`` underneath): the operating system drops it if a worker
dies, and a worker that waits longer than the timeout gets :class:`HostLockTimeout`.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from types import TracebackType

from filelock import FileLock
from filelock import Timeout

__all__ = ["HostLock", "HostLockTimeout"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True


class HostLockTimeout(TimeoutError):
    """Waited longer than allowed for another worker's benchmark on the same server."""

    def __init__(self, host: str, path: Path, seconds: float) -> None:
        super().__init__(
            f"waited {seconds:g} s for another pytest-xdist worker's benchmark on {host} "
            f"(lock file {path}); raise --ollama-lock-timeout, or let workers overlap with "
            "--ollama-no-serialize"
        )
        self.host = host
        self.path = path
        self.seconds = seconds


class HostLock:
    """An exclusive inter-process lock for one server URL, re-entrant within one process.

    :param host: the server's URL (shown redacted in errors by the caller's choice of ``label``).
    :param timeout: seconds to wait for the lock; negative waits forever.
    :param directory: where the lock file lives (the temporary directory by default).
    :param label: how errors name the server (pass a redacted URL).
    """

    def __init__(
        self,
        host: str,
        *,
        timeout: float = -1,
        directory: str | None = None,
        label: str | None = None,
    ) -> None:
        digest = hashlib.sha256(host.encode()).hexdigest()[:16]
        self.path = Path(directory or tempfile.gettempdir()) / f"pytest-ollama-bench-{digest}.lock"
        self.timeout = timeout
        self.label = label if label is not None else host
        # thread_local=False: an async test acquires in a worker thread and releases on its loop
        self._lock = FileLock(self.path, timeout=timeout, thread_local=False)

    @property
    def is_locked(self) -> bool:
        """Whether this process holds the lock."""
        return self._lock.is_locked

    def acquire(self) -> None:
        """Block until this process holds the lock (again, when it already does).

        :raises HostLockTimeout: not acquired within :attr:`timeout` seconds.
        """
        try:
            self._lock.acquire()
        except Timeout:
            raise HostLockTimeout(self.label, self.path, self.timeout) from None

    def release(self) -> None:
        """Undo one :meth:`acquire`; the next process gets in after the last (no-op unheld)."""
        if self._lock.is_locked:
            self._lock.release()

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
