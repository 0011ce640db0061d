"""Reading a streamed response: lines cut at any network boundary with a size cap, and a
deadline per record.

Both clients read with these: :class:`NDJSONSplitter` (Ollama's native stream; the SSE parser
has its own line rules) and :class:`RecordDeadline` (what ``--ollama-timeout`` means, and the
watch for a connection that closed under an unfinished answer). Pure asyncio, no aiohttp, no
pytest.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

__all__ = [
    "MAX_LINE_BYTES",
    "PROBE_S",
    "BrokenStream",
    "LineTooLong",
    "NDJSONSplitter",
    "RecordDeadline",
]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

#: Seconds between two looks at a watched connection (:meth:`RecordDeadline.watch`).
PROBE_S = 1.0
#: Seconds until the look that confirms a connection seen closed under an unfinished body (a
#: close being processed finishes the body within a turn or two of the event loop).
CONFIRM_S = 0.1


#: The longest line (or Server-Sent Event line) a response may have: 64 MiB. A longer one is
#: :class:`~pytest_ollama_bench.errors.ResponseTooLargeError`, not a memory exhaustion.
MAX_LINE_BYTES = 64 * 1024 * 1024


class LineTooLong(ValueError):
    """A line grew past the splitter's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a line is longer than {limit:,} bytes")
        self.limit = limit


class NDJSONSplitter:
    """Split a byte stream into lines, whatever the network chunk boundaries.

    ``feed`` returns the complete, non-blank lines (without the newline) that the new data
    finished; a partial line waits for the next call. ``flush`` returns what is left at EOF.
    Work is linear in the bytes fed, however long a line is; a line longer than ``limit``
    bytes raises :class:`LineTooLong`.
    """

    __slots__ = ("_buf", "_limit")

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self._buf = bytearray()
        self._limit = limit

    def feed(self, data: bytes) -> list[bytes]:
        end = data.rfind(b"\n")
        if end == -1:
            self._buf += data
            if len(self._buf) > self._limit:
                raise LineTooLong(self._limit)
            return []
        if self._buf:
            self._buf += data[: end + 1]
            head = bytes(self._buf)
        else:
            head = data[: end + 1]
        self._buf = bytearray(data[end + 1 :])
        lines = head.split(b"\n")[:-1]
        if len(self._buf) > self._limit or any(len(line) > self._limit for line in lines):
            raise LineTooLong(self._limit)
        return [line for line in lines if line.strip()]

    def flush(self) -> bytes:
        rest = bytes(self._buf)
        self._buf = bytearray()
        return rest if rest.strip() else b""


class BrokenStream(Exception):
    """The connection under a response was closed while its body was unfinished.

    :ivar detail: why, as the HTTP library saw it (e.g. an invalid chunk size), or ``""``.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail or "the connection was closed before the answer ended")
        self.detail = detail


#: Says whether a response's connection is gone under its unfinished body: None while it is
#: fine, else why (``""`` when not known).
Probe = Callable[[], str | None]


class RecordDeadline:
    """A deadline per record: the first within ``seconds`` of entering, each next one within
    ``seconds`` of the one before (:meth:`renew` marks a completed record).

    What ``--ollama-timeout`` means: a server that trickles its headers or a line a byte at a
    time is cut off when the record is late, however often bytes arrive (a per-read socket
    timeout would wait forever). When a deadline passes, the task inside ``async with`` is
    cancelled and the block raises :class:`TimeoutError`, as :func:`asyncio.timeout` does.
    Renewing costs one clock read: the timer is only moved when it fires early.

    :meth:`watch` also looks at the response's connection every :data:`PROBE_S` seconds: an
    HTTP library that drops a connection on a framing error inside the body (a bad chunk size)
    may leave its reader waiting for bytes that can no longer come. When the probe reports it
    on two looks in a row (the second :data:`CONFIRM_S` after the first), the task is cancelled
    and the block raises :class:`BrokenStream`: within about a second instead of at the
    deadline, as a broken answer instead of a slow server.
    """

    __slots__ = (
        "_due",
        "_handle",
        "_loop",
        "_probe",
        "_probe_handle",
        "_suspect",
        "_task",
        "broken",
        "expired",
        "seconds",
    )

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.broken: str | None = None
        self._due = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._probe: Probe | None = None
        self._probe_handle: asyncio.TimerHandle | None = None
        self._suspect = False

    async def __aenter__(self) -> RecordDeadline:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._task = asyncio.current_task()
        self._due = loop.time() + self.seconds
        self._handle = loop.call_at(self._due, self._fire)
        return self

    def renew(self) -> None:
        """A record completed: the next one has ``seconds`` from now."""
        assert self._loop is not None
        self._due = self._loop.time() + self.seconds

    def _fire(self) -> None:
        assert self._loop is not None
        assert self._task is not None
        if self._loop.time() < self._due:  # renewed since the timer was set
            self._handle = self._loop.call_at(self._due, self._fire)
            return
        self.expired = True
        self._task.cancel()

    def watch(self, probe: Probe, every: float = PROBE_S) -> None:
        """Look at the response with ``probe`` every ``every`` seconds until the block ends."""
        assert self._loop is not None
        self._probe = probe
        self._probe_handle = self._loop.call_later(every, self._look, every)

    def _look(self, every: float) -> None:
        assert self._loop is not None
        assert self._task is not None
        assert self._probe is not None
        if self.expired or self._task.done():
            return
        why = self._probe()
        if why is not None and self._suspect:  # two looks apart: not a close being processed
            self.broken = why
            self._task.cancel()
            return
        self._suspect = why is not None
        delay = CONFIRM_S if self._suspect else every
        self._probe_handle = self._loop.call_later(delay, self._look, every)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._probe_handle is not None:
            self._probe_handle.cancel()
        if (self.expired or self.broken is not None) and exc_type is asyncio.CancelledError:
            if sys.version_info >= (3, 11):
                assert self._task is not None
                self._task.uncancel()
            if self.broken is not None:
                raise BrokenStream(self.broken) from exc
            raise asyncio.TimeoutError from exc
