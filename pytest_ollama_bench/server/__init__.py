"""The Ollama-protocol server and its engines: a product part of pytest-ollama-bench.

It serves Ollama's HTTP API byte for byte (``/api/chat``, ``/api/generate``, ``/api/tags``,
``/api/ps``, ``/api/show``, ``/api/version``, ``/v1/chat/completions``, ``/v1/models``) on a
loopback port, with injected faults, over any engine:

* :class:`OllamaEmulator` - the asyncio server (any :class:`Engine` behind it);
* :class:`EmulatorThread` - the same in a daemon thread, for synchronous code;
* :class:`SimulatedEngine` + :class:`ModelProfile` - scripted text and timings per model;
* ``llamacpp.LlamaCppEngine`` - real inference with llama.cpp (``xllamacpp``, imported lazily);
* :class:`Fault` - injected failures (HTTP errors, mid-stream error lines, cuts, stalls...);
* :class:`SlotLimits` / :class:`SlotRecord` - Ollama's parallel slots and wait queue per model
  (``OLLAMA_NUM_PARALLEL``, ``OLLAMA_MAX_QUEUE``, HTTP 503 beyond), and one request's way
  through them.

``--ollama-embedded`` serves llama.cpp through it; ``python -m pytest_ollama_bench.server
--port 11434 --model llama3.2`` serves from the shell. Test authors use
:mod:`pytest_ollama_bench.testing` (``fake_ollama``, ``FakeOllama``).
"""

from __future__ import annotations

from .emulator import DEFAULT_VERSION
from .emulator import LOOPBACK_HOSTS
from .emulator import OllamaEmulator
from .engine import Engine
from .engine import EngineError
from .engine import Final
from .engine import GenerationRequest
from .engine import ModelCard
from .engine import Piece
from .engine import SlotLimits
from .engine import SupportsSlots
from .engine import SupportsUnload
from .faults import Fault
from .simulated import ModelProfile
from .simulated import SimulatedEngine
from .slots import QueueFullError
from .slots import SlotPool
from .slots import SlotRecord
from .thread import EmulatorThread

__all__ = [
    "DEFAULT_VERSION",
    "LOOPBACK_HOSTS",
    "EmulatorThread",
    "Engine",
    "EngineError",
    "Fault",
    "Final",
    "GenerationRequest",
    "ModelCard",
    "ModelProfile",
    "OllamaEmulator",
    "Piece",
    "QueueFullError",
    "SimulatedEngine",
    "SlotLimits",
    "SlotPool",
    "SlotRecord",
    "SupportsSlots",
    "SupportsUnload",
]
