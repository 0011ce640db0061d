"""``FakeOllama``: the server over a simulated engine, as a synchronous handle for tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from ..server.emulator import DEFAULT_VERSION
from ..server.simulated import ModelProfile
from ..server.simulated import SimulatedEngine
from ..server.thread import EmulatorThread

__all__ = ["DEFAULT_MODELS", "FakeOllama"]

DEFAULT_MODELS = ("llama3.2", "qwen2.5:0.5b")
_PROFILE_FIELDS = frozenset(f.name for f in dataclasses.fields(ModelProfile)) - {"name"}


def _check_fields(fields: dict[str, Any]) -> None:
    unknown = sorted(set(fields) - _PROFILE_FIELDS)
    if unknown:
        raise TypeError(f"unknown ModelProfile field(s): {', '.join(unknown)}")


class FakeOllama(EmulatorThread):
    """An :class:`OllamaEmulator` + :class:`SimulatedEngine` for synchronous code and tests.

    ``profile_defaults`` (any :class:`ModelProfile` field but ``name``) apply to every model
    created by name, including later :meth:`add_model` calls. Profiles are live: change
    ``fake.profile("llama3.2").itl_ms`` and the next request uses it.

    ``FakeOllama(parallel=2, max_queue=4)`` serves two requests per model at once, queues four
    more and answers the next with Ollama's 503; ``slot_log`` and ``max_in_flight`` show what
    happened (see ``pytest_ollama_bench.server.slots``).
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
