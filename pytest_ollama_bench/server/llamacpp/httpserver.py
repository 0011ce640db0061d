"""llama.cpp's own OpenAI-compatible HTTP server, started on a chosen loopback port.

For benchmarking the OpenAI-compatible path against llama.cpp itself (``--ollama-embedded
--ollama-api=openai``): ``/v1/chat/completions`` with SSE and a ``timings`` object in the last
chunk, ``/v1/models``, ``/health``, ``/completion``...
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from .load import make_server
from .load import resolve_gguf
from .load import with_tag

__all__ = ["LlamaCppHttpServer", "start_llamacpp_http_server"]


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
    listening on ``host:port`` (``port=0``: an ephemeral port; read ``handle.url``), with
    ``n_parallel`` slots of ``n_ctx`` tokens each (continuous batching; llama.cpp queues
    requests beyond the slots itself, without a bound). Blocks
    until the model is loaded (~0.5 s for SmolLM2); from async code call it through
    :func:`asyncio.to_thread`. ``cache_prompt`` is llama.cpp's server-wide default (requests
    may still send ``"cache_prompt": false``). Raises
    :class:`~pytest_ollama_bench.server.engine.EngineError` when the port cannot be bound.
    """
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be in 0..65535, got {port}")
    if n_parallel < 1:
        raise ValueError(f"n_parallel must be positive, got {n_parallel}")
    gguf = resolve_gguf(gguf_path)
    server = make_server(
        gguf,
        name=with_tag(name),
        n_ctx=n_ctx * n_parallel,
        n_threads=n_threads,
        host=host,
        port=port,
        n_parallel=n_parallel,
        cache_prompt=cache_prompt,
    )
    return LlamaCppHttpServer(server, name=with_tag(name), gguf_path=gguf)
