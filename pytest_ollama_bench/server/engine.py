"""The contract between the emulator's Ollama-protocol front and what produces the tokens.

The front (``emulator.py``) parses requests, validates them exactly as Ollama does, times
``load_duration`` and ``total_duration`` itself, and formats every NDJSON line. An engine only
knows models and how to turn a request into pieces of text plus the final token counts and
durations it really spent:

* :class:`SimulatedEngine` (``simulated.py``) - scripted text, timings and faults per model;
* ``LlamaCppEngine`` (``llamacpp``) - real inference with llama.cpp via xllamacpp.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal
from typing import Protocol
from typing import runtime_checkable

__all__ = [
    "Engine",
    "EngineError",
    "Final",
    "GenerationRequest",
    "ModelCard",
    "Piece",
    "SlotLimits",
    "SupportsSlots",
    "SupportsUnload",
]


@dataclass(frozen=True)
class ModelCard:
    """What ``/api/tags``, ``/api/ps`` and ``/api/show`` say about one model."""

    name: str  # always with a tag, e.g. "llama3.2:latest"
    digest: str  # 64 hex chars, no "sha256:" prefix
    size: int  # bytes
    modified_at: str  # RFC 3339 with the server's local offset
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    format: str = "gguf"
    context_length: int = 4096
    capabilities: tuple[str, ...] = ("completion",)
    #: bytes of the model in GPU memory once loaded (``/api/ps`` ``size_vram``); None: all of it
    vram_bytes: int | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """A validated request, as the engine sees it."""

    endpoint: Literal["chat", "generate"]
    model: str  # the canonical installed name ("llama3.2:latest")
    messages: list[dict[str, Any]] = field(default_factory=list)  # chat
    prompt: str = ""  # generate
    system: str | None = None  # generate
    raw: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    think: bool | str | None = None
    tools: list[Any] = field(default_factory=list)  # chat: the request's tool definitions


@dataclass(frozen=True)
class Piece:
    """A piece of output as one stream line carries it.

    ``tool_calls`` are whole calls in Ollama's shape (``{"id", "function": {"index", "name",
    "arguments"}}``), as Ollama sends them: one piece, complete, not streamed in parts.
    """

    content: str = ""
    thinking: str = ""
    tool_calls: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Final:
    """The engine's own account of the request, reported in the final chunk.

    Durations are nanoseconds the engine really spent; ``None``/0 values are omitted from the
    wire, as Ollama does.
    """

    done_reason: str = "stop"
    prompt_eval_count: int | None = None
    #: prompt tokens served from the cache; ``None`` leaves ``prompt_eval_cached_count`` out
    #: (older Ollama), a number (0 too) is sent, as newer servers do
    prompt_eval_cached_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None
    # token ids of prompt + answer for ``/api/generate``'s ``context``; ``None`` lets the front
    # derive deterministic stand-in ids from the text
    context: tuple[int, ...] | None = None


class EngineError(Exception):
    """An engine failure; the front turns it into an HTTP error or a mid-stream error line."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Engine(Protocol):
    """What the front needs from an engine."""

    def cards(self) -> list[ModelCard]:
        """Installed models, newest first."""
        ...

    async def load(self, model: str) -> None:
        """Make ``model`` ready; a cold model takes its load time here."""
        ...

    def loaded(self) -> list[str]:
        """Names of the models currently loaded (for ``/api/ps``)."""
        ...

    def generate(self, request: GenerationRequest) -> AsyncIterator[Piece | Final]:
        """Yield pieces as they are produced, then exactly one :class:`Final`.

        May raise :class:`EngineError` before or between pieces.
        """
        ...

    async def aclose(self) -> None:
        """Release resources."""
        ...


@dataclass(frozen=True)
class SlotLimits:
    """How many requests of one model run at once, and how many may wait for a slot.

    ``parallel`` is Ollama's ``OLLAMA_NUM_PARALLEL`` (default 1 since v0.9.7), ``max_queue``
    its ``OLLAMA_MAX_QUEUE`` (default 512); ``None`` means no limit. See ``slots.py`` for how
    the front applies them.

    :raises ValueError: ``parallel`` < 1 or ``max_queue`` < 0.
    """

    parallel: int | None = 1
    max_queue: int | None = 512

    def __post_init__(self) -> None:
        if self.parallel is not None and self.parallel < 1:
            raise ValueError(f"parallel must be >= 1 or None, got {self.parallel}")
        if self.max_queue is not None and self.max_queue < 0:
            raise ValueError(f"max_queue must be >= 0 or None, got {self.max_queue}")


@runtime_checkable
class SupportsSlots(Protocol):
    """Optional engine extension: the parallel slots and wait queue of each model.

    The front checks for it with ``isinstance`` before every request; an engine without it
    gets no slots from the front (every request is passed on at once).
    """

    def slot_limits(self, model: str) -> SlotLimits:
        """The limits of the installed ``model`` (its canonical name), read per request."""
        ...


@runtime_checkable
class SupportsUnload(Protocol):
    """Optional engine extension: release a model (``keep_alive`` 0 or expired).

    The front checks for it with ``isinstance``; engines without it simply stay loaded.
    """

    async def unload(self, model: str) -> None:
        """Forget that ``model`` is loaded; the next ``load`` pays the load time again."""
        ...
