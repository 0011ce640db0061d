"""A scripted engine: fixed text per model, real (measured) sleeps for load, prompt and tokens.

Every model is a mutable :class:`ModelProfile`; changes take effect on the next request. The
reported durations are the ones really spent (``time.perf_counter_ns``), so client-side and
server-side timings can be compared.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import time
import weakref
from collections.abc import AsyncGenerator
from collections.abc import AsyncIterator
from collections.abc import Iterable
from typing import Any

from ..names import parse_model_name
from ._go import parse_time_ns
from .engine import EngineError
from .engine import Final
from .engine import GenerationRequest
from .engine import ModelCard
from .engine import Piece
from .engine import SlotLimits
from .profile import ModelProfile
from .profile import estimate_prompt_tokens
from .profile import prompt_tokens
from .profile import split_tokens
from .profile import text_tokens

__all__ = [
    "ModelProfile",
    "SimulatedEngine",
    "estimate_prompt_tokens",
    "sleep_until",
    "split_tokens",
]

_NS_PER_MS = 1_000_000
_TEMPLATE_IDS = (128000, 128006, 882, 128007, 271, 128009, 128006, 78191, 128007, 271)
_CALL_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


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


def _common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _tool_calls(profile: ModelProfile) -> tuple[dict[str, Any], ...]:
    """The profile's tool calls as Ollama sends them: an id each and the function's index."""
    calls = []
    for index, call in enumerate(profile.tool_calls or ()):
        function = dict(call.get("function") or {})
        function.setdefault("index", index)
        function.setdefault("arguments", {})
        call_id = call.get("id") or "call_" + "".join(random.choices(_CALL_ID_CHARS, k=8))
        calls.append({"id": call_id, "function": function})
    return tuple(calls)


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


def _past_the_end(plan: list[tuple[str, str]], room: int) -> list[tuple[str, str]]:
    """``plan`` with its answer said again (a space between) until it has ``room`` tokens: a
    model told to ignore its end of text (``ignore_eos``, llama.cpp's option) goes on."""
    answer = [token for channel, token in plan if channel == "content"]
    if not answer:
        return plan
    again = [answer[0] if answer[0][:1].isspace() else " " + answer[0], *answer[1:]]
    out = list(plan)
    while len(out) < room:
        out.extend(("content", token) for token in again[: room - len(out)])
    return out


def _num_predict(options: dict[str, Any]) -> int:
    value = options.get("num_predict")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return -1
    return int(value)


class SimulatedEngine:
    """An :class:`~pytest_ollama_bench.server.engine.Engine` that plays back profiles.

    Implements ``unload`` (``SupportsUnload``) so ``keep_alive`` 0 and expiry cost a new load
    (an unload takes the profile's ``unload_ms`` in the background, the model listed as loaded
    until it is done), and ``slot_limits`` (``SupportsSlots``) so the front gives each model its
    profile's ``parallel`` slots and ``max_queue``.
    """

    def __init__(self, profiles: Iterable[ModelProfile | str] = ()) -> None:
        self._profiles: dict[str, ModelProfile] = {}
        self._loaded: dict[str, None] = {}  # insertion-ordered set of loaded keys
        self._unloading: dict[str, asyncio.Task[None]] = {}
        self._last_prompt: dict[str, list[str]] = {}  # the prompt cache, one slot per model
        self._turns: dict[str, int] = {}  # requests generated per model (``responses``)
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
        """Pay ``load_ms`` once per (re)load; concurrent loads of one model share it.

        A load while the model is still unloading waits for the unload to finish first.
        """
        key, profile = self._lookup(model)
        unloading = self._unloading.get(key)
        if unloading is not None:
            await asyncio.shield(unloading)
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
        """Unload a model: its next request pays ``load_ms`` again.

        Returns at once; with ``unload_ms`` the model stays listed (``/api/ps``) until the
        unload finishes in the background, as Ollama's runner takes time to stop.
        """
        try:
            key, profile = self._lookup(model)
        except EngineError:
            return
        self._last_prompt.pop(key, None)
        if key not in self._loaded or key in self._unloading:
            return
        if profile.unload_ms <= 0:
            self._loaded.pop(key, None)
            return

        async def finish() -> None:
            try:
                await asyncio.sleep(profile.unload_ms / 1000)
            finally:
                self._loaded.pop(key, None)
                self._unloading.pop(key, None)

        self._unloading[key] = asyncio.get_running_loop().create_task(finish())

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
        plan: list[tuple[str, str]] = []  # (channel, text): thinking, content or tools
        if profile.thinking and _think_on(request):
            plan.extend(("thinking", token) for token in split_tokens(profile.thinking))
        calls = _tool_calls(profile) if request.tools else ()
        if calls:  # the model calls its tools instead of answering
            plan.append(("tools", json.dumps(calls)))
        else:
            turn = self._turns.get(key, 0)
            self._turns[key] = turn + 1
            plan.extend(("content", token) for token in profile.content_tokens(turn))
        tokens = prompt_tokens(request)
        prompt_count = (
            profile.prompt_tokens if profile.prompt_tokens is not None else max(len(tokens), 1)
        )
        done_reason = "stop"
        limit = _num_predict(request.options)
        if not calls and profile.honours_ignore_eos and request.options.get("ignore_eos") is True:
            if limit < 0:  # no cap: on to the end of the context, as a runner stops there
                limit = max(profile.context_length - prompt_count, 1)
            plan = _past_the_end(plan, limit)
        if 0 <= limit <= len(plan):
            plan = plan[:limit]
            done_reason = "length"
        stops = _stops(request.options)
        keep = max((len(stop) for stop in stops), default=1) - 1  # tail a stop can start in
        cached: int | None = None
        if profile.prompt_cache:  # one cache: the previous prompt's prefix is reused
            hit = _common_prefix(self._last_prompt.get(key, []), tokens)
            cached = max(min(hit, prompt_count - 1), 0)
            self._last_prompt[key] = tokens
        processed = prompt_count - (cached or 0)
        ttft_ns += int(profile.prefill_ms_per_token * _NS_PER_MS * processed)

        start = time.perf_counter_ns()
        deadline = start + ttft_ns
        first_ns: int | None = None
        last_ns = start
        count = 0
        tails = {"thinking": "", "content": ""}  # the last ``keep`` characters of each channel
        generated: list[str] = []
        for index, (channel, token) in enumerate(plan):
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
            if channel == "tools":  # one chunk with the whole calls, as Ollama sends them
                count += len(split_tokens(token))
                generated.extend(split_tokens(token))
                yield Piece(tool_calls=calls)
                continue
            count += 1
            tail = tails[channel]
            window = tail + token
            hits = [i for i in (window.find(stop) for stop in stops) if i >= 0]
            if hits:
                emit = window[len(tail) : max(min(hits), len(tail))]
                done_reason = "stop"
            else:
                emit = token
            tails[channel] = (tail + emit)[-keep:] if keep else ""
            generated.append(token)
            if emit or not hits:
                yield Piece(thinking=emit) if channel == "thinking" else Piece(content=emit)
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
            words = text_tokens(request.system or "") + text_tokens(request.prompt)
            prompt_ids = [_token_id(word) for word in words][-prompt_count:] if prompt_count else []
            filler = [_TEMPLATE_IDS[i % len(_TEMPLATE_IDS)] for i in range(prompt_count)]
            prompt_ids = filler[: max(prompt_count - len(prompt_ids), 0)] + prompt_ids
            context = tuple(prompt_ids + [_token_id(token) for token in generated])
        yield Final(
            done_reason=done_reason,
            prompt_eval_count=prompt_count,
            prompt_eval_cached_count=cached,
            prompt_eval_duration=prompt_ns,
            eval_count=count,
            eval_duration=eval_ns,
            context=context,
        )

    async def aclose(self) -> None:
        """Forget loaded state and cached prompts (profiles stay installed)."""
        for task in list(self._unloading.values()):
            task.cancel()
        self._unloading.clear()
        self._loaded.clear()
        self._last_prompt.clear()
