"""An Ollama-protocol emulator for tests, demos and client timing checks.

* :class:`OllamaEmulator` - the asyncio server (any :class:`Engine` behind it);
* :class:`SimulatedEngine` + :class:`ModelProfile` - scripted text and timings per model;
* :class:`Fault` - injected failures (HTTP errors, mid-stream error lines, cuts, stalls...);
* :class:`FakeOllama` - a synchronous wrapper running everything in a daemon thread;
* ``fake_ollama`` - a pytest fixture; enable with
  ``pytest_plugins = ["pytest_ollama_bench.testing"]`` in a conftest.

``python -m pytest_ollama_bench.testing --port 11434 --model llama3.2`` serves from the shell.
"""

from __future__ import annotations

from .engine import Engine
from .engine import EngineError
from .engine import Final
from .engine import GenerationRequest
from .engine import ModelCard
from .engine import Piece
from .fake import FakeOllama
from .faults import Fault
from .fixture import fake_ollama
from .server import OllamaEmulator
from .simulated import ModelProfile
from .simulated import SimulatedEngine

__all__ = [
    "Engine",
    "EngineError",
    "FakeOllama",
    "Fault",
    "Final",
    "GenerationRequest",
    "ModelCard",
    "ModelProfile",
    "OllamaEmulator",
    "Piece",
    "SimulatedEngine",
    "fake_ollama",
]
