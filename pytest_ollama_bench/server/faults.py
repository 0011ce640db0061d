"""Scripted failures the emulator's front injects into responses, whatever the engine.

A :class:`Fault` is set per model (``OllamaEmulator.set_fault``) and applies to inference
requests (``/api/chat``, ``/api/generate``, ``/v1/chat/completions``) for that model.

Chunk positions count the stream lines the response would carry (content/thinking chunks and
the final ``done`` chunk; on ``/v1`` the native chunks the SSE events are made from). A fault
"after N chunks" fires once N lines were written, before the next one. If the response has
fewer than N chunks before its final one, the fault fires just before the final chunk, so a
scripted failure is never silently skipped.

Semantics, streaming (the default):

* ``status`` (+ ``message``): no stream at all; the request gets that HTTP status with the JSON
  body ``{"error": message}`` before anything is loaded. Defaults: 503 -> Ollama's queue-full
  text, 500/502 -> ``an error was encountered while running the model: ...``, 404 -> Ollama's
  not-found text for the requested name, others -> the status phrase. Also applies to load-only
  requests (empty ``messages``/``prompt``).
* ``error_after=N``: after N chunks, one more line ``{"error": message}`` and the stream ends:
  HTTP status 200, no ``done`` chunk (Ollama's mid-stream error). With N == 0 nothing has been
  written yet, so - exactly like Ollama - the client gets HTTP 500 with a JSON error body.
* ``cut_after=N``: after N chunks the body simply ends (proper end of the chunked body, no
  ``done``, no error line). With ``cut_abort=True`` the TCP connection is closed instead,
  without the terminating chunk, so clients see an incomplete body / protocol error.
* ``malformed_after=N``: after N chunks one line that is not JSON (the first half of the next
  chunk's JSON) is written, then the stream **continues** normally with that chunk.
* ``stall_after=N`` + ``stall_s``: after N chunks nothing is sent for ``stall_s`` seconds
  (headers too, when N == 0), then the stream continues normally.

On ``/v1/chat/completions`` HTTP errors use the OpenAI error object, and the mid-stream error
line is translated as Ollama's middleware does it: one SSE event with an empty ``content``
delta (``model`` ""), then the stream ends without ``data: [DONE]``.

Non-streaming requests (``stream: false``): the response is assembled first, then ``stall``
delays it, ``error`` turns it into HTTP 500 with a JSON error (what Ollama does with errors
there), ``cut`` closes the connection without any response, and ``malformed`` sends the first
half of the JSON body (status 200).

``times`` is how many affected requests the fault still applies to; it is decremented per
request and the fault removes itself when it reaches 0. ``None`` means every request. Load-only
requests are only affected (and counted) by ``status`` faults; unload requests (``keep_alive``
0 with nothing to generate) and requests rejected before loading (unknown model, bad body...)
are never affected.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from http import HTTPStatus

from ..names import ModelName
from ..names import parse_model_name

__all__ = [
    "QUEUE_FULL_MESSAGE",
    "RUNNER_ERROR_PREFIX",
    "Fault",
    "FaultCursor",
    "put_fault",
    "take_fault",
]

QUEUE_FULL_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
"""Ollama's 503 text when ``OLLAMA_MAX_QUEUE`` is exceeded (note the two spaces)."""

RUNNER_ERROR_PREFIX = "an error was encountered while running the model: "
"""How Ollama prefixes runner crashes (HTTP 500 or a mid-stream error line)."""

_DEFAULT_DETAIL = "fault injected by the emulator"


@dataclass
class Fault:
    """A scripted failure for one model; see the module docstring for the exact semantics."""

    status: int | None = None
    message: str | None = None
    error_after: int | None = None
    cut_after: int | None = None
    cut_abort: bool = False
    malformed_after: int | None = None
    stall_after: int | None = None
    stall_s: float = 0.0
    times: int | None = None

    def __post_init__(self) -> None:
        if self.status is not None and not 400 <= self.status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), got {self.status}")
        for name in ("error_after", "cut_after", "malformed_after", "stall_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}")
        if self.stall_s < 0:
            raise ValueError(f"stall_s must be >= 0, got {self.stall_s}")
        if self.times is not None and self.times < 1:
            raise ValueError(f"times must be >= 1 or None, got {self.times}")

    @property
    def affects_stream(self) -> bool:
        """Whether any chunk-position fault is set."""
        return any(
            value is not None
            for value in (self.error_after, self.cut_after, self.malformed_after, self.stall_after)
        )

    def status_message(self, model: str) -> str:
        """The pre-stream error text (``model`` is the name as the client sent it)."""
        if self.message is not None:
            return self.message
        status = self.status or 500
        if status == 503:
            return QUEUE_FULL_MESSAGE
        if status in (500, 502):
            return RUNNER_ERROR_PREFIX + _DEFAULT_DETAIL
        if status == 404:
            return f"model '{model}' not found"
        if status == 499:
            return "request canceled"
        try:
            return HTTPStatus(status).phrase.lower()
        except ValueError:
            return "error"

    def error_message(self) -> str:
        """The text of the mid-stream error line."""
        return self.message if self.message is not None else RUNNER_ERROR_PREFIX + _DEFAULT_DETAIL


@dataclass
class FaultCursor:
    """Tracks which chunk-position faults of one request have fired."""

    fault: Fault
    _fired: set[str] = field(default_factory=set)

    def _due(self, name: str, index: int, final: bool) -> bool:
        after: int | None = getattr(self.fault, name)
        if after is None or name in self._fired:
            return False
        if after == index or (final and after > index):
            self._fired.add(name)
            return True
        return False

    def stall(self, index: int, final: bool) -> float:
        """Seconds to stall before writing chunk ``index`` (0 when not due)."""
        return self.fault.stall_s if self._due("stall_after", index, final) else 0.0

    def malformed(self, index: int, final: bool) -> bool:
        """Whether a malformed line goes before chunk ``index``."""
        return self._due("malformed_after", index, final)

    def error(self, index: int, final: bool) -> bool:
        """Whether the stream fails with an error line instead of chunk ``index``."""
        return self._due("error_after", index, final)

    def cut(self, index: int, final: bool) -> bool:
        """Whether the stream is cut instead of writing chunk ``index``."""
        return self._due("cut_after", index, final)


# -- the server's table of faults: display name -> Fault ------------------------------------------


def _same(text: str, name: ModelName) -> bool:
    parsed = parse_model_name(text)
    return parsed is not None and parsed.key == name.key


def put_fault(faults: MutableMapping[str, Fault], model: str, fault: Fault | None) -> None:
    """Set a copy of ``fault`` for ``model`` (any spelling) in ``faults``; ``None`` clears it.

    :raises ValueError: when ``model`` is not a valid model name.
    """
    name = parse_model_name(model.strip())
    if name is None:
        raise ValueError(f"invalid model name: {model!r}")
    for existing in [key for key in faults if _same(key, name)]:
        del faults[existing]
    if fault is not None:
        faults[name.display] = replace(fault)


def take_fault(faults: MutableMapping[str, Fault], model: str, generating: bool) -> Fault | None:
    """The fault a request for the installed ``model`` consumes, counting ``times`` down.

    A load-only request (``generating`` false) is only affected by a ``status`` fault. Returns a
    snapshot; the table's fault removes itself when its ``times`` run out.
    """
    name = parse_model_name(model)
    if name is None:
        return None
    for key, fault in list(faults.items()):
        if not _same(key, name):
            continue
        if not generating and fault.status is None:
            return None
        snapshot = replace(fault)
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del faults[key]
        return snapshot
    return None
