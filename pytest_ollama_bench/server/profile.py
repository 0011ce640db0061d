"""What one simulated model says and how fast: :class:`ModelProfile`, its tokenizer and prompts.

The simulated tokenizer makes each word (with its leading whitespace) a token; a prompt is the
template's tokens, then each message's role tokens and words, so a repeated prefix is a
repeated token prefix, as a real prompt cache sees it.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from ..names import display_name
from ._go import format_time
from ._go import parse_time_ns
from .engine import GenerationRequest
from .engine import ModelCard
from .engine import SlotLimits

__all__ = ["ModelProfile", "estimate_prompt_tokens", "prompt_tokens", "split_tokens"]

_TOKEN_RE = re.compile(r"\s*\S+")
_last_modified_ns = 0


def split_tokens(text: str) -> list[str]:
    """The simulated tokenizer: each word with its leading whitespace."""
    return _TOKEN_RE.findall(text)


def _next_modified_ns() -> int:
    """Strictly increasing wall-clock stamps, so profiles created in a row sort newest first."""
    global _last_modified_ns
    _last_modified_ns = max(time.time_ns(), _last_modified_ns + 1)
    return _last_modified_ns


@dataclass
class ModelProfile:
    """What one simulated model says and how fast.

    ``tokens`` (explicit token strings) wins over splitting ``response``; ``responses``, when
    set, are answered in turn, one per request (a model that varies, as at temperature > 0),
    and win over both. A non-empty
    ``thinking`` gives the model the ``thinking`` capability: with ``think`` on (or omitted,
    like Ollama) its tokens stream first as thinking pieces. ``tool_calls`` (Ollama's shape,
    ``{"function": {"name", "arguments"}}``) give it the ``tools`` capability: a chat that
    sends ``tools`` gets them as one tool-call chunk instead of the answer text. ``ttft_ms`` is
    the prompt phase before the first piece, ``itl_ms`` the gap between pieces, ``load_ms``
    the cold-load time (first use and after an unload), ``unload_ms`` how long an unload takes
    (``/api/ps`` lists the model until it is done, and a request meanwhile waits for it).
    ``prompt_tokens`` fixes ``prompt_eval_count``; else it is estimated from the prompt's
    words plus a small template overhead. With ``prompt_cache`` the model keeps its last
    prompt's tokens and reports the common prefix as ``prompt_eval_cached_count`` (as newer
    Ollama does; always at least one token is processed); ``prefill_ms_per_token`` adds that
    much prompt time per processed (uncached) token.

    Concurrency (applied by the server's front, ``slots.py``): ``parallel`` mirrors
    ``OLLAMA_NUM_PARALLEL`` (default 1: concurrent requests wait for the slot), ``max_queue``
    ``OLLAMA_MAX_QUEUE`` (default 512 waiting requests, then HTTP 503); ``None`` = unlimited.
    ``batch_slowdown`` is what batching costs: with n requests of this model generating at
    once, each one's prompt phase and token gaps are ``(1 + batch_slowdown * (n - 1))`` times
    ``ttft_ms``/``itl_ms`` (n counted when each wait starts). 0 (the default): ideal batching,
    the model's total token rate grows n-fold; 1: none, n streams share one stream's rate.
    """

    name: str
    response: str = "2 + 2 equals 4."
    responses: list[str] | None = None
    thinking: str = ""
    tokens: list[str] | None = None
    tool_calls: list[dict[str, Any]] | None = None
    ttft_ms: float = 0.0
    itl_ms: float = 0.0
    load_ms: float = 0.0
    unload_ms: float = 0.0
    prompt_tokens: int | None = None
    prompt_cache: bool = False
    prefill_ms_per_token: float = 0.0
    parallel: int | None = 1
    max_queue: int | None = 512
    batch_slowdown: float = 0.0
    digest: str = ""
    size: int = 2_019_393_189
    family: str = "llama"
    parameter_size: str = "3.2B"
    quantization_level: str = "Q4_K_M"
    format: str = "gguf"
    context_length: int = 4096
    modified_at: str = ""
    capabilities: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.name = display_name(self.name)
        if not self.digest:
            self.digest = hashlib.sha256(self.name.encode()).hexdigest()
        if not self.modified_at:
            self.modified_at = format_time(_next_modified_ns(), utc=False)
        parse_time_ns(self.modified_at)  # ValueError unless RFC 3339
        for attr in (
            "ttft_ms",
            "itl_ms",
            "load_ms",
            "unload_ms",
            "prefill_ms_per_token",
            "batch_slowdown",
        ):
            if getattr(self, attr) < 0:
                raise ValueError(f"{attr} must be >= 0")
        self.slot_limits()  # ValueError unless parallel >= 1 and max_queue >= 0 (or None)

    @property
    def effective_capabilities(self) -> tuple[str, ...]:
        """``capabilities`` if set, else ``completion`` (+ ``thinking`` with a thinking text,
        + ``tools`` with tool calls)."""
        if self.capabilities is not None:
            return tuple(self.capabilities)
        found = ["completion"]
        if self.thinking:
            found.append("thinking")
        if self.tool_calls:
            found.append("tools")
        return tuple(found)

    def content_tokens(self, turn: int = 0) -> list[str]:
        """The answer (the ``turn``-th request's, with ``responses``) as its token strings."""
        if self.responses:
            return split_tokens(self.responses[turn % len(self.responses)])
        return list(self.tokens) if self.tokens is not None else split_tokens(self.response)

    def slot_limits(self) -> SlotLimits:
        """``parallel`` and ``max_queue`` as the front applies them."""
        return SlotLimits(parallel=self.parallel, max_queue=self.max_queue)

    def card(self) -> ModelCard:
        """This profile as the front describes it."""
        return ModelCard(
            name=self.name,
            digest=self.digest,
            size=self.size,
            modified_at=self.modified_at,
            family=self.family,
            parameter_size=self.parameter_size,
            quantization_level=self.quantization_level,
            format=self.format,
            context_length=self.context_length,
            capabilities=self.effective_capabilities,
        )


def _words(text: Any) -> list[str]:
    return split_tokens(text) if isinstance(text, str) else []


def prompt_tokens(request: GenerationRequest) -> list[str]:
    """The rendered prompt as simulated tokens: template, then per message its role and words.

    Chat: 8 template tokens, then 4 role tokens and the words of each message. Generate: 12
    template tokens (+4 with a ``system``) before the system's and the prompt's words; a
    ``raw`` prompt is its words only.
    """
    if request.endpoint == "chat":
        tokens = ["<|template|>"] * 8
        for message in request.messages:
            tokens += [f"<|{message.get('role') or 'user'}|>"] * 4 + _words(message.get("content"))
        return tokens
    if request.raw:
        return _words(request.system) + _words(request.prompt)
    tokens = ["<|template|>"] * 12
    if request.system:
        tokens += ["<|system|>"] * 4 + _words(request.system)
    return tokens + _words(request.prompt)


def estimate_prompt_tokens(request: GenerationRequest) -> int:
    """A deterministic ``prompt_eval_count``: prompt words plus a small template overhead."""
    return max(len(prompt_tokens(request)), 1)
