"""The Ollama-protocol server in a daemon thread with its own event loop, for synchronous code."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any
from typing import TypeVar

from ..loop import LoopThread
from .emulator import DEFAULT_VERSION
from .emulator import OllamaEmulator
from .engine import Engine
from .faults import Fault
from .slots import SlotPool
from .slots import SlotRecord

__all__ = ["EmulatorThread"]

_T = TypeVar("_T")
_E = TypeVar("_E", bound="EmulatorThread")
_TIMEOUT_S = 30.0  # for starting, stopping and reaching the server thread


class EmulatorThread:
    """An :class:`OllamaEmulator` over any :class:`Engine`, served from a daemon thread.

    For synchronous code: the session's embedded llama.cpp server, demos, and the test
    authors' ``FakeOllama``. ``start()`` returns once the port listens; ``stop()`` closes the
    server (and the engine, with ``close_engine``).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        record_timings: bool = False,
        version: str = DEFAULT_VERSION,
        close_engine: bool = True,
        port: int = 0,
    ) -> None:
        self._emulator = OllamaEmulator(
            engine,
            port=port,
            record_timings=record_timings,
            version=version,
            close_engine=close_engine,
        )
        self._thread = LoopThread("fake-ollama")

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self: _E) -> _E:
        """Start the server thread and wait until it listens (idempotent)."""
        if self._thread.running:
            return self
        try:
            self._thread.run(self._emulator.start(), timeout=_TIMEOUT_S)
        except BaseException:
            self._thread.close(timeout=_TIMEOUT_S)
            raise
        return self

    def stop(self) -> None:
        """Stop the server and its thread (idempotent)."""
        if self._thread.running:
            self._thread.close(self._emulator.stop(), timeout=_TIMEOUT_S)

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _on_loop(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server's loop thread (directly when not running)."""
        if not self._thread.running:
            return fn()
        return self._thread.call(fn, timeout=_TIMEOUT_S)

    # -- access -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (the server must be running)."""
        return self._emulator.url

    @property
    def host(self) -> str:
        """Same as :attr:`url` - the value to pass as ``ollama.Client(host=...)``."""
        return self._emulator.url

    @property
    def port(self) -> int:
        """The bound port."""
        return self._emulator.port

    @property
    def emulator(self) -> OllamaEmulator:
        """The underlying asyncio emulator (lives on the server thread's loop)."""
        return self._emulator

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request received: ``{"method", "path", "body"}``."""
        return self._emulator.requests

    @property
    def chunk_log(self) -> list[tuple[int, int, int]]:
        """``(request_seq, line_index, perf_counter_ns)`` per written line (``record_timings``)."""
        return self._emulator.chunk_log

    @property
    def record_timings(self) -> bool:
        """Whether :attr:`chunk_log` is being filled."""
        return self._emulator.record_timings

    @record_timings.setter
    def record_timings(self, value: bool) -> None:
        self._emulator.record_timings = value

    @property
    def slot_log(self) -> list[SlotRecord]:
        """A :class:`~.slots.SlotRecord` per inference request that asked for a slot (when it
        queued, got which slot, ended; ``perf_counter_ns``), in arrival order."""
        return self._emulator.slot_log

    @property
    def max_in_flight(self) -> dict[str, int]:
        """Installed model name -> the most of its requests that held a slot at once."""
        return self._emulator.max_in_flight

    @property
    def slots(self) -> SlotPool:
        """The server's slots (read ``in_flight(model)``/``waiting(model)`` from any thread)."""
        return self._emulator.slots

    def reset_slot_stats(self) -> None:
        """Clear :attr:`slot_log` and restart the maxima from what runs and waits now."""
        self._on_loop(self._emulator.slots.reset)

    def set_fault(self, name: str, fault: Fault | None) -> None:
        """Inject (or with ``None`` clear) a fault for a model."""
        self._on_loop(lambda: self._emulator.set_fault(name, fault))
