"""What one simulated model says and how fast: :class:`ModelProfile`, its tokenizers and prompts.

Two simulated tokenizers. An answer streams a word (with its leading whitespace) per token
(:func:`split_tokens`). A prompt is counted roughly as a BPE tokenizer counts it
(:func:`text_tokens`): as Llama 3's pre-tokenizer, it splits the text into words (runs of
letters and digits, with the space or punctuation mark before them), punctuation runs and
whitespace; a word costs a token per six characters (a number per three digits), a
punctuation mark one. On English text this comes within about 15 % of SmolLM2's tokenizer
(1.02 times its count on the prose of this project's README, 1.04 on the whole README, 1.13 on
the Zen of Python, where counting words gives 0.44 to 0.71). A prompt is the template's
tokens, then each message's role tokens and text tokens, so a repeated prefix is a repeated
token prefix, as a real prompt cache sees it.
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
from .library import describe

__all__ = [
    "ModelProfile",
    "estimate_prompt_tokens",
    "prompt_tokens",
    "split_tokens",
    "text_tokens",
]

_TOKEN_RE = re.compile(r"\s*\S+")
# Llama 3's pre-tokenizer, roughly: contractions; a run of letters and digits with the space or
# punctuation mark before it; punctuation runs; newlines; other whitespace
_PIECE_RE = re.compile(
    r"'(?:s|t|re|ve|m|ll|d)\b|(?:[^\w\r\n]|_)?[^\W_]+| ?(?:[^\s\w]|_)+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_WORD_PIECE = 6  # characters per token of a long word
_NUMBER_PIECE = 3  # digits per token of a number
_PUNCT_PIECE = 1  # characters per token of a punctuation run
_last_modified_ns = 0


def split_tokens(text: str) -> list[str]:
    """The answer's simulated tokens: each word with its leading whitespace."""
    return _TOKEN_RE.findall(text)


def text_tokens(text: str) -> list[str]:
    """A prompt text's simulated tokens, about as many as a BPE tokenizer makes (module doc);
    whitespace at its ends is left out, as chat templates trim a message."""
    tokens: list[str] = []
    for piece in _PIECE_RE.findall(text.strip()):
        if piece[-1:].isalnum():  # a word or number, after its space or punctuation mark
            lead = "" if piece[:1].isalnum() else piece[:1]
            core = piece[len(lead) :]
            size = _NUMBER_PIECE if core.isdigit() else _WORD_PIECE
        elif piece.strip():
            lead, core, size = "", piece, _PUNCT_PIECE
        else:
            tokens.append(piece)
            continue
        chunks = [core[i : i + size] for i in range(0, len(core), size)]
        tokens.append(lead + chunks[0])
        tokens.extend(chunks[1:])
    return tokens


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
    much prompt time per processed (uncached) token. With ``honours_ignore_eos`` (the
    default) a request whose options say ``ignore_eos: true`` (llama.cpp's option, which
    ``output_tokens=`` sends; Ollama itself ignores it) gets its answer said again until
    ``num_predict`` tokens (or the context) are reached, ``done_reason`` ``length``; set it
    False for a server that ignores it, where answers end at the text's end (``stop``).

    Concurrency (applied by the server's front, ``slots.py``): ``parallel`` mirrors
    ``OLLAMA_NUM_PARALLEL`` (default 1: concurrent requests wait for the slot), ``max_queue``
    ``OLLAMA_MAX_QUEUE`` (default 512 waiting requests, then HTTP 503); ``None`` = unlimited.
    ``batch_slowdown`` is what batching costs: with n requests of this model generating at
    once, each one's prompt phase and token gaps are ``(1 + batch_slowdown * (n - 1))`` times
    ``ttft_ms``/``itl_ms`` (n counted when each wait starts). 0 (the default): ideal batching,
    the model's total token rate grows n-fold; 1: none, n streams share one stream's rate.

    ``size``, ``family``, ``parameter_size`` and ``quantization_level`` (what ``/api/tags``,
    ``/api/ps`` and ``/api/show`` report) are plausible for the name unless given
    (:func:`~.library.describe`: ``qwen2.5:0.5b`` is a ``qwen2`` of ``494.03M`` parameters).
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
    honours_ignore_eos: bool = True
    parallel: int | None = 1
    max_queue: int | None = 512
    batch_slowdown: float = 0.0
    digest: str = ""
    size: int = 0
    family: str = ""
    parameter_size: str = ""
    quantization_level: str = ""
    format: str = "gguf"
    context_length: int = 4096
    modified_at: str = ""
    capabilities: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        self.name = display_name(self.name)
        if not self.digest:
            self.digest = hashlib.sha256(self.name.encode()).hexdigest()
        made_up = describe(self.name)  # what is not given: plausible for the name
        self.size = self.size or made_up.size
        self.family = self.family or made_up.family
        self.parameter_size = self.parameter_size or made_up.parameter_size
        self.quantization_level = self.quantization_level or made_up.quantization_level
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
    return text_tokens(text) if isinstance(text, str) else []


def prompt_tokens(request: GenerationRequest) -> list[str]:
    """The rendered prompt as simulated tokens: template, then per message its role and text.

    Chat: 8 template tokens, then 4 role tokens and the :func:`text_tokens` of each message.
    Generate: 12 template tokens (+4 with a ``system``) before the system's and the prompt's
    text tokens; a ``raw`` prompt is its text tokens only.
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
    """A deterministic ``prompt_eval_count``: the prompt's text tokens plus the template's."""
    return max(len(prompt_tokens(request)), 1)
