"""What test authors import: the ``fake_ollama`` fixture, ``FakeOllama``, profiles and faults.

* ``fake_ollama`` - a pytest fixture; enable with
  ``pytest_plugins = ["pytest_ollama_bench.testing"]`` in a conftest;
* :class:`FakeOllama` - an Ollama-protocol server over a simulated engine, running in a daemon
  thread, as a synchronous handle (URL, live profiles, faults, request log);
* :class:`ModelProfile` - what one simulated model says and how fast;
* :class:`Fault` - injected failures (HTTP errors, mid-stream error lines, cuts, stalls...);
* :class:`SlotRecord` - one request's way through its model's parallel slots
  (``FakeOllama.slot_log``), :class:`SlotLimits` - a model's ``parallel`` and ``max_queue``.

The server itself (``OllamaEmulator``, engines, ``EmulatorThread``) lives in
:mod:`pytest_ollama_bench.server`; its names are re-exported here as they always were.
``python -m pytest_ollama_bench.testing`` is the server's command line under this name.
"""

from __future__ import annotations

from ..server.emulator import OllamaEmulator
from ..server.engine import Engine
from ..server.engine import EngineError
from ..server.engine import Final
from ..server.engine import GenerationRequest
from ..server.engine import ModelCard
from ..server.engine import Piece
from ..server.engine import SlotLimits
from ..server.faults import Fault
from ..server.simulated import ModelProfile
from ..server.simulated import SimulatedEngine
from ..server.slots import SlotRecord
from .fake import FakeOllama
from .fixture import fake_ollama

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
    "SlotLimits",
    "SlotRecord",
    "fake_ollama",
]
