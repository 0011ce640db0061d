"""A synchronous handle on an emulator running in a daemon thread with its own event loop."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from collections.abc import Iterable
from types import TracebackType
from typing import Any
from typing import TypeVar

from ..loop import LoopThread
from .engine import Engine
from .faults import Fault
from .server import DEFAULT_VERSION
from .server import OllamaEmulator
from .simulated import ModelProfile
from .simulated import SimulatedEngine

__all__ = ["DEFAULT_MODELS", "EmulatorThread", "FakeOllama"]

DEFAULT_MODELS = ("llama3.2", "qwen2.5:0.5b")
_PROFILE_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelProfile)) - {"name"}
_T = TypeVar("_T")
_E = TypeVar("_E", bound="EmulatorThread")
_TIMEOUT_S = 30.0  # for starting, stopping and reaching the server thread


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - _PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown ModelProfile field(s): {', '.join(unknown)}")


class EmulatorThread:
    """An :class:`OllamaEmulator` over any :class:`Engine`, served from a daemon thread.

    For synchronous code: the session's embedded llama.cpp server, demos, and
    :class:`FakeOllama`. ``start()`` returns once the port listens; ``stop()`` closes the
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

    def set_fault(self, name: str, fault: Fault | None) -> None:
        """Inject (or with ``None`` clear) a fault for a model."""
        self._on_loop(lambda: self._emulator.set_fault(name, fault))


class FakeOllama(EmulatorThread):
    """An :class:`OllamaEmulator` + :class:`SimulatedEngine` for synchronous code and tests.

    ``profile_defaults`` (any :class:`ModelProfile` field but ``name``) apply to every model
    created by name, including later :meth:`add_model` calls. Profiles are live: change
    ``fake.profile("llama3.2").itl_ms`` and the next request uses it.
    """

    def __init__(
        self,
        models: Iterable[str | ModelProfile] = DEFAULT_MODELS,
        *,
        record_timings: bool = False,
        version: str = DEFAULT_VERSION,
        **profile_defaults: Any,
    ) -> None:
        _check_fields(profile_defaults)
        self._defaults = dict(profile_defaults)
        self._engine = SimulatedEngine(
            model if isinstance(model, ModelProfile) else ModelProfile(model, **self._defaults)
            for model in models
        )
        super().__init__(self._engine, record_timings=record_timings, version=version)

    @property
    def engine(self) -> SimulatedEngine:
        """The simulated engine."""
        return self._engine

    def add_model(self, name: str, **profile: Any) -> ModelProfile:
        """Install (or replace) a model: the constructor defaults overridden by ``profile``."""
        _check_fields(profile)
        new = ModelProfile(name, **{**self._defaults, **profile})
        return self._on_loop(lambda: self._engine.add(new))

    def remove_model(self, name: str) -> None:
        """Uninstall a model (``KeyError`` if missing)."""
        self._on_loop(lambda: self._engine.remove(name))

    def profile(self, name: str) -> ModelProfile:
        """The live profile of an installed model."""
        return self._engine.profile(name)
