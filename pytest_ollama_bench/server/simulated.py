"""A scripted engine: fixed text per model, real (measured) sleeps for load, prompt and tokens.

Every model is a mutable :class:`ModelProfile`; changes take effect on the next request. The
reported durations are the ones really spent (``time.perf_counter_ns``), so client-side and
server-side timings can be compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import time
import weakref
from collections.abc import AsyncGenerator
from collections.abc import AsyncIterator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..names import display_name
from ..names import parse_model_name
from ._go import format_time
from ._go import parse_time_ns
from .engine import EngineError
from .engine import Final
from .engine import GenerationRequest
from .engine import ModelCard
from .engine import Piece
from .engine import SlotLimits

__all__ = [
    "ModelProfile",
    "SimulatedEngine",
    "estimate_prompt_tokens",
    "sleep_until",
    "split_tokens",
]

_TOKEN_RE = re.compile(r"\s*\S+")
_NS_PER_MS = 1_000_000
_TEMPLATE_IDS = (128000, 128006, 882, 128007, 271, 128009, 128006, 78191, 128007, 271)
_last_modified_ns = 0


def split_tokens(text: str) -> list[str]:
    """The simulated tokenizer: each word with its leading whitespace."""
    return _TOKEN_RE.findall(text)


def _next_modified_ns() -> int:
    """Strictly increasing wall-clock stamps, so profiles created in a row sort newest first."""
    global _last_modified_ns
    _last_modified_ns = max(time.time_ns(), _last_modified_ns + 1)
    return _last_modified_ns


async def sleep_until(deadline_ns: int) -> None:
    """Sleep until ``perf_counter_ns() >= deadline_ns``.

    ``asyncio.sleep`` covers all but the last millisecond; the rest is spent yielding to the
    event loop, which keeps short delays accurate without burning a core on long ones.
    """
    while True:
        remaining = deadline_ns - time.perf_counter_ns()
        if remaining <= 0:
            return
        if remaining > 1_500_000:
            await asyncio.sleep((remaining - 1_000_000) / 1e9)
        else:
            await asyncio.sleep(0)


@dataclass
class ModelProfile:
    """What one simulated model says and how fast.

    ``tokens`` (explicit token strings) wins over splitting ``response``. A non-empty
    ``thinking`` gives the model the ``thinking`` capability: with ``think`` on (or omitted,
    like Ollama) its tokens stream first as thinking pieces. ``ttft_ms`` is the prompt phase
    before the first piece, ``itl_ms`` the gap between pieces, ``load_ms`` the cold-load time
    (first use and after an unload). ``prompt_tokens`` fixes ``prompt_eval_count``; else it is
    estimated from the prompt's words plus a small template overhead.

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
    thinking: str = ""
    tokens: list[str] | None = None
    ttft_ms: float = 0.0
    itl_ms: float = 0.0
    load_ms: float = 0.0
    prompt_tokens: int | None = None
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
        for attr in ("ttft_ms", "itl_ms", "load_ms", "batch_slowdown"):
            if getattr(self, attr) < 0:
                raise ValueError(f"{attr} must be >= 0")
        self.slot_limits()  # ValueError unless parallel >= 1 and max_queue >= 0 (or None)

    @property
    def effective_capabilities(self) -> tuple[str, ...]:
        """``capabilities`` if set, else ``completion`` (+ ``thinking`` with a thinking text)."""
        if self.capabilities is not None:
            return tuple(self.capabilities)
        return ("completion", "thinking") if self.thinking else ("completion",)

    def content_tokens(self) -> list[str]:
        """The answer as the token strings it streams as."""
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


def _words(text: Any) -> int:
    return len(split_tokens(text)) if isinstance(text, str) else 0


def estimate_prompt_tokens(request: GenerationRequest) -> int:
    """A deterministic ``prompt_eval_count``: prompt words plus a small template overhead."""
    if request.endpoint == "chat":
        count = 8 + sum(4 + _words(message.get("content")) for message in request.messages)
    else:
        count = _words(request.prompt) + _words(request.system)
        if not request.raw:
            count += 12 + (4 if request.system else 0)
    return max(count, 1)


def _token_id(token: str) -> int:
    return int.from_bytes(hashlib.sha256(token.encode()).digest()[:4], "big") % 128_000 + 256


def _think_on(request: GenerationRequest) -> bool:
    think = request.think
    if think is None:
        return True  # Ollama turns thinking on by default for capable models
    if isinstance(think, str):
        return think in ("low", "medium", "high", "max")
    return bool(think)


def _stops(options: dict[str, Any]) -> list[str]:
    stop = options.get("stop")
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def _num_predict(options: dict[str, Any]) -> int:
    value = options.get("num_predict")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return -1
    return int(value)


class SimulatedEngine:
    """An :class:`~pytest_ollama_bench.server.engine.Engine` that plays back profiles.

    Implements ``unload`` (``SupportsUnload``) so ``keep_alive`` 0 and expiry cost a new load,
    and ``slot_limits`` (``SupportsSlots``) so the front gives each model its profile's
    ``parallel`` slots and ``max_queue``.
    """

    def __init__(self, profiles: Iterable[ModelProfile | str] = ()) -> None:
        self._profiles: dict[str, ModelProfile] = {}
        self._loaded: dict[str, None] = {}  # insertion-ordered set of loaded keys
        self._load_locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[str, asyncio.Lock]
        ] = weakref.WeakKeyDictionary()
        self._generating: dict[str, int] = {}  # key -> requests generating now
        for profile in profiles:
            self.add(profile if isinstance(profile, ModelProfile) else ModelProfile(profile))

    # -- profile management -------------------------------------------------------------------

    @staticmethod
    def _key(name: str) -> str:
        parsed = parse_model_name(name.strip())
        if parsed is None:
            raise KeyError(name)
        return "/".join(parsed.key)

    def add(self, profile: ModelProfile) -> ModelProfile:
        """Install (or replace) a model."""
        key = self._key(profile.name)
        self._loaded.pop(key, None)
        self._profiles[key] = profile
        return profile

    def add_model(self, name: str, **fields: Any) -> ModelProfile:
        """Install a model built from :class:`ModelProfile` fields."""
        return self.add(ModelProfile(name, **fields))

    def remove(self, name: str) -> None:
        """Uninstall a model (``KeyError`` if it is not installed)."""
        key = self._key(name)
        del self._profiles[key]
        self._loaded.pop(key, None)

    def profile(self, name: str) -> ModelProfile:
        """The live, mutable profile of an installed model (``KeyError`` if missing)."""
        return self._profiles[self._key(name)]

    @property
    def profiles(self) -> list[ModelProfile]:
        """All installed profiles, in installation order."""
        return list(self._profiles.values())

    def _lookup(self, model: str) -> tuple[str, ModelProfile]:
        try:
            key = self._key(model)
            return key, self._profiles[key]
        except KeyError:
            raise EngineError(f'model "{model}" not found, try pulling it first', 404) from None

    # -- Engine protocol ----------------------------------------------------------------------

    def cards(self) -> list[ModelCard]:
        """Installed models, newest ``modified_at`` first."""
        cards = [profile.card() for profile in list(self._profiles.values())]
        return sorted(cards, key=lambda card: parse_time_ns(card.modified_at), reverse=True)

    def loaded(self) -> list[str]:
        """Names of the loaded models, in load order."""
        return [self._profiles[key].name for key in list(self._loaded) if key in self._profiles]

    async def load(self, model: str) -> None:
        """Pay ``load_ms`` once per (re)load; concurrent loads of one model share it."""
        key, profile = self._lookup(model)
        if key in self._loaded:
            return
        loop = asyncio.get_running_loop()
        locks = self._load_locks.setdefault(loop, {})
        lock = locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._loaded:
                return
            await sleep_until(time.perf_counter_ns() + int(profile.load_ms * _NS_PER_MS))
            self._loaded[key] = None

    async def unload(self, model: str) -> None:
        """Mark a model unloaded: its next request pays ``load_ms`` again."""
        try:
            self._loaded.pop(self._key(model), None)
        except KeyError:
            return

    def slot_limits(self, model: str) -> SlotLimits:
        """The profile's ``parallel`` and ``max_queue`` (no limits for an unknown model)."""
        try:
            return self.profile(model).slot_limits()
        except KeyError:
            return SlotLimits(parallel=None, max_queue=None)

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Piece | Final]:
        """Sleep ``ttft_ms``, then yield one piece per token every ``itl_ms`` (both scaled by
        ``batch_slowdown``); the front has already given the request a slot."""
        key, profile = self._lookup(request.model)
        self._generating[key] = self._generating.get(key, 0) + 1
        try:
            async with contextlib.aclosing(self._play(request, profile, key)) as play:
                async for item in play:
                    yield item
        finally:
            self._generating[key] -= 1

    def _batched(self, key: str, profile: ModelProfile, ms: float) -> int:
        """``ms`` of work in ns, stretched by the requests batched with this one now."""
        others = self._generating.get(key, 1) - 1
        return int(ms * (1.0 + profile.batch_slowdown * others) * _NS_PER_MS)

    async def _play(
        self, request: GenerationRequest, profile: ModelProfile, key: str
    ) -> AsyncGenerator[Piece | Final, None]:
        ttft_ns = self._batched(key, profile, profile.ttft_ms)
        plan: list[tuple[bool, str]] = []  # (is_thinking, text)
        if profile.thinking and _think_on(request):
            plan.extend((True, token) for token in split_tokens(profile.thinking))
        plan.extend((False, token) for token in profile.content_tokens())
        done_reason = "stop"
        limit = _num_predict(request.options)
        if 0 <= limit <= len(plan):
            plan = plan[:limit]
            done_reason = "length"
        stops = _stops(request.options)
        keep = max((len(stop) for stop in stops), default=1) - 1  # tail a stop can start in
        prompt_count = (
            profile.prompt_tokens
            if profile.prompt_tokens is not None
            else estimate_prompt_tokens(request)
        )

        start = time.perf_counter_ns()
        deadline = start + ttft_ns
        first_ns: int | None = None
        last_ns = start
        count = 0
        tails = {True: "", False: ""}  # the last ``keep`` characters of each channel
        generated: list[str] = []
        for index, (thinking, token) in enumerate(plan):
            if index:
                itl_ns = self._batched(key, profile, profile.itl_ms)
                # an absolute schedule (no drift), but never faster than half an interval
                deadline = max(deadline + itl_ns, last_ns + itl_ns // 2)
                now = time.perf_counter_ns()
                if now - deadline > itl_ns:
                    deadline = now  # the consumer stalled: restart the cadence from here
            await sleep_until(deadline)
            last_ns = time.perf_counter_ns()
            if first_ns is None:
                first_ns = last_ns
            count += 1
            tail = tails[thinking]
            window = tail + token
            hits = [i for i in (window.find(stop) for stop in stops) if i >= 0]
            if hits:
                emit = window[len(tail) : max(min(hits), len(tail))]
                done_reason = "stop"
            else:
                emit = token
            tails[thinking] = (tail + emit)[-keep:] if keep else ""
            generated.append(token)
            if emit or not hits:
                yield Piece(thinking=emit) if thinking else Piece(content=emit)
            if hits:
                break
        if first_ns is None:
            await sleep_until(deadline)
            prompt_ns = time.perf_counter_ns() - start
            eval_ns = 0
        else:
            prompt_ns = first_ns - start
            eval_ns = last_ns - first_ns
        context: tuple[int, ...] | None = None
        if request.endpoint == "generate":
            # prompt_eval_count ids (template filler, then the prompt's words) + one per token
            words = split_tokens(request.system or "") + split_tokens(request.prompt)
            prompt_ids = [_token_id(word) for word in words][-prompt_count:] if prompt_count else []
            filler = [_TEMPLATE_IDS[i % len(_TEMPLATE_IDS)] for i in range(prompt_count)]
            prompt_ids = filler[: max(prompt_count - len(prompt_ids), 0)] + prompt_ids
            context = tuple(prompt_ids + [_token_id(token) for token in generated])
        yield Final(
            done_reason=done_reason,
            prompt_eval_count=prompt_count,
            prompt_eval_duration=prompt_ns,
            eval_count=count,
            eval_duration=eval_ns,
            context=context,
        )

    async def aclose(self) -> None:
        """Forget loaded state (profiles stay installed)."""
        self._loaded.clear()
