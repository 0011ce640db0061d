"""``--ollama-embedded``: serve a real model for the session and point the plugin at it.

The only module outside ``server/`` and ``testing/`` that imports the server package. With the
native API the model is served by the emulator's Ollama front over the llama.cpp engine; with
``--ollama-api openai`` by llama.cpp's own OpenAI-compatible HTTP server. Under pytest-xdist the
controller serves the model once and hands its URL to the workers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from .local import INSTALL_HINT
from .settings import Settings

__all__ = ["DEFAULT_EMBEDDED_MODEL", "start_embedded"]

#: The workerinput key under which the controller hands its server URL to xdist workers.
EMBEDDED_URL = "ollama_bench_embedded_url"
DEFAULT_EMBEDDED_MODEL = "smollm2:135m"
XDIST_HOOKS = "ollama-bench-xdist"


def start_embedded(
    config: pytest.Config, settings: Settings
) -> tuple[Settings, Callable[[], None] | None]:
    """Settings pointed at the embedded server, and how to stop it (None: nothing to stop).

    Settings without ``embedded`` come back unchanged.

    :raises pytest.UsageError: the llama.cpp engine is not installed.
    """
    if not settings.embedded:
        return settings, None
    gguf, name = settings.embedded_gguf or (None, DEFAULT_EMBEDDED_MODEL)
    workerinput = getattr(config, "workerinput", None)
    close: Callable[[], None] | None = None
    if workerinput is not None and EMBEDDED_URL in workerinput:
        url = str(workerinput[EMBEDDED_URL])
    else:
        url, close = _serve(gguf, name, settings.api, settings.embedded_parallel)
        if config.pluginmanager.hasplugin("xdist"):
            config.pluginmanager.register(_EmbeddedXdistHooks(url), XDIST_HOOKS)
    settings = dataclasses.replace(settings, host=url, hosts=(), models=settings.models or (name,))
    return settings, close


def _serve(gguf: str | None, name: str, api: str, parallel: int) -> tuple[str, Callable[[], None]]:
    """Start the embedded server with ``parallel`` slots; returns its URL and how to stop it."""
    try:
        from .server.llamacpp import LlamaCppUnavailableError
        from .server.llamacpp import embedded_engine
        from .server.llamacpp import start_llamacpp_http_server
        from .server.thread import EmulatorThread

        if api == "openai":
            # prompt caching off server-wide: every round evaluates its whole prompt
            http = start_llamacpp_http_server(
                gguf, 0, name=name, n_parallel=parallel, cache_prompt=False
            )
            return http.url, http.close
        thread = EmulatorThread(embedded_engine(gguf, name, n_parallel=parallel)).start()
        return thread.url, thread.stop
    except (ImportError, LlamaCppUnavailableError) as exc:
        raise pytest.UsageError(
            f"--ollama-embedded needs the llama.cpp engine: {exc}; install it with {INSTALL_HINT}"
        ) from None


class _EmbeddedXdistHooks:
    """Hands the controller's embedded server URL to every xdist worker."""

    def __init__(self, url: str) -> None:
        self.url = url

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[EMBEDDED_URL] = self.url
