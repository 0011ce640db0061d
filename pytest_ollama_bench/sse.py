"""Server-Sent Events: the stream format of OpenAI-compatible chat completions.

:class:`SSEParser` turns a byte stream, cut anywhere by the network, into :class:`SSEEvent`
objects by the WHATWG event-stream rules. Standard library only, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from .reading import LineTooLong

__all__ = ["SSEEvent", "SSEParser"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class SSEEvent:
    """One Server-Sent Event: its ``data:`` lines joined by ``\\n``, and its ``event:`` type."""

    data: bytes
    event: str = "message"


class SSEParser:
    """Split a byte stream into Server-Sent Events, whatever the network chunk boundaries.

    Follows the WHATWG event-stream rules: lines end in ``\\n``, ``\\r\\n`` or ``\\r``; lines
    starting with ``:`` are comments; ``field: value`` loses one space after the colon; several
    ``data:`` lines join with ``\\n``; a blank line dispatches the event (nothing is dispatched
    for an event without data); ``id``, ``retry`` and unknown fields are ignored; a leading
    UTF-8 BOM is skipped. ``feed`` returns the events the new bytes completed; ``flush``, at
    EOF, also returns an event whose closing blank line never came (the spec drops it; servers
    that end with ``data: [DONE]`` and no blank line exist).

    Work is linear in the bytes fed, however long a line is; a line longer than ``limit``
    bytes raises ``ValueError`` (the clients' ``LineTooLong``, when they pass ``limit`` that
    way) instead of growing without bound.
    """

    __slots__ = ("_buf", "_data", "_event", "_first", "_limit", "_skip_lf")

    def __init__(self, limit: int | None = None) -> None:
        self._buf = bytearray()
        self._limit = limit
        self._skip_lf = False  # the previous chunk ended in "\r": drop a "\n" right after it
        self._first = True
        self._data: list[bytes] = []
        self._event = ""

    def feed(self, data: bytes) -> list[SSEEvent]:
        """Events completed by ``data``."""
        if self._skip_lf and data:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:  # only the new bytes: a "\r\n" cut in two is the flag above
            self._skip_lf = data.endswith(b"\r")
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        end = data.rfind(b"\n")
        if end == -1:
            self._buf += data
            self._check(len(self._buf))
            return []
        if self._buf:
            self._buf += data[: end + 1]
            head = bytes(self._buf)
        else:
            head = data[: end + 1]
        self._buf = bytearray(data[end + 1 :])
        lines = head.split(b"\n")[:-1]
        self._check(max(len(self._buf), *(len(line) for line in lines)))
        events: list[SSEEvent] = []
        for line in lines:
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    def _check(self, longest: int) -> None:
        if self._limit is not None and longest > self._limit:
            raise LineTooLong(self._limit)

    def flush(self) -> list[SSEEvent]:
        """At EOF: the last unterminated line and event, if any."""
        rest = bytes(self._buf)
        self._buf = bytearray()
        self._skip_lf = False
        if rest:
            self._line(rest)
        event = self._dispatch()
        return [] if event is None else [event]

    def _line(self, line: bytes) -> SSEEvent | None:
        if self._first:
            self._first = False
            if line.startswith(_BOM):
                line = line[len(_BOM) :]
        if not line:
            return self._dispatch()
        if line[:1] == b":":
            return None
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, self._data = self._data, []
        event, self._event = self._event, ""
        if not data:
            return None
        return SSEEvent(b"\n".join(data), event or "message")
