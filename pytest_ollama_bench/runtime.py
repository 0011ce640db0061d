"""The run context of one pytest process: clients, the private event loop, the host lock and
the model catalog.

No pytest here. Sync benchmark calls run on a private loop in a thread (so they work in plain
tests and inside another plugin's running loop alike) with one client shared across tests;
async calls run on the test's own loop with a client of their own. Under pytest-xdist each call
holds the host lock, so workers take turns on the server.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Protocol
from typing import TypeVar

from .hosts import redact_host
from .settings import Settings

if TYPE_CHECKING:
    from .catalog import ModelCatalog
    from .hostlock import HostLock
    from .loop import LoopThread
    from .models import Measurement
    from .models import ModelDetails

__all__ = ["BenchClient", "Runtime"]

T = TypeVar("T")


class BenchClient(Protocol):
    """What a benchmark call needs from an API client (native Ollama or OpenAI-compatible)."""

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        warmup: bool = False,
        **fields: Any,
    ) -> Measurement: ...

    async def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        warmup: bool = False,
        **fields: Any,
    ) -> Measurement: ...

    async def unload(self, model: str) -> None: ...

    async def version(self) -> str: ...

    async def installed_models(self) -> list[ModelDetails]: ...

    async def aclose(self) -> None: ...


#: What a benchmark call is, for the runtime: a coroutine function of the client.
Call = Callable[[BenchClient], Awaitable[T]]

#: Seconds allowed for the short requests the plugin makes on its own (version, /api/ps).
SIDE_REQUEST_TIMEOUT_S = 5.0


class Runtime:
    """Clients, loop thread, host lock and model catalog of one process.

    :param settings: the session's settings.
    :param serialize: take the per-host lock around every call (xdist workers).
    """

    def __init__(self, settings: Settings, *, serialize: bool = False) -> None:
        from .credentials import authorization

        authorization(settings.host, settings.api)  # HostError now, not in every test
        self.settings = settings
        self.display_host = redact_host(settings.host)
        self._serialize = serialize
        self._loop_thread: LoopThread | None = None
        self._client: BenchClient | None = None
        self._lock: HostLock | None = None
        self._catalog: ModelCatalog | None = None

    # ----------------------------------------------------------------- clients

    def new_client(self, timeout: float | None = None) -> BenchClient:
        """A fresh client for the configured host and API, bound to the running loop."""
        seconds = self.settings.timeout if timeout is None else timeout
        if self.settings.api == "openai":
            from .openai import OpenAIClient

            return OpenAIClient(self.settings.host, timeout=seconds)
        from .client import OllamaClient

        return OllamaClient(self.settings.host, timeout=seconds)

    @property
    def loop(self) -> LoopThread:
        """The private loop of sync calls, started on first use."""
        if self._loop_thread is None:
            from .loop import LoopThread

            self._loop_thread = LoopThread()
        return self._loop_thread

    def _host_lock(self) -> HostLock | None:
        if not self._serialize:
            return None
        if self._lock is None:
            from .hostlock import HostLock

            self._lock = HostLock(
                self.settings.host, timeout=self.settings.lock_timeout, label=self.display_host
            )
        return self._lock

    def run_sync(self, fn: Call[T]) -> T:
        """Run ``fn(client)`` on the private loop with the shared client (holding the lock).

        A call its test abandons (pytest-timeout, Ctrl-C) is cancelled and the shared client
        closed with its connections before the exception propagates, so nothing of it is still
        streaming when the next call starts.
        """
        __tracebackhide__ = True

        async def call() -> T:
            if self._client is None:
                self._client = self.new_client()
            return await fn(self._client)

        lock = self._host_lock()
        try:
            if lock is None:
                return self.loop.run(call())
            with lock:
                return self.loop.run(call())
        except BaseException:
            self._drop_client()
            raise

    def _drop_client(self) -> None:
        """Close the shared client (a fresh one serves the next call)."""
        client, self._client = self._client, None
        if client is None or self._loop_thread is None:
            return
        # best effort: the connections die with the loop anyway
        with contextlib.suppress(Exception):
            self._loop_thread.run(client.aclose(), timeout=SIDE_REQUEST_TIMEOUT_S)

    async def run_async(self, fn: Call[T]) -> T:
        """Run ``fn(client)`` on the caller's loop with a client of its own (holding the lock).

        Under trio (anyio's trio backend, pytest-trio) there is no asyncio loop to run on: the
        call runs as :meth:`run_sync` does, in a worker thread that trio awaits.

        :raises RuntimeError: under an event loop that is neither asyncio nor trio.
        """
        __tracebackhide__ = True
        import asyncio

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return await _in_trio_thread(lambda: self.run_sync(fn))

        lock = self._host_lock()
        if lock is not None:
            await asyncio.to_thread(lock.acquire)  # waiting must not block the test's loop
        client = self.new_client()
        try:
            return await fn(client)
        finally:
            await client.aclose()
            if lock is not None:
                lock.release()

    async def _side_request(self, fn: Call[T], timeout: float | None = None) -> T:
        """``fn`` with a client of its own (for requests outside any benchmark call)."""
        client = self.new_client(timeout=timeout)
        try:
            return await fn(client)
        finally:
            await client.aclose()

    # ----------------------------------------------------------------- server facts

    @property
    def catalog(self) -> ModelCatalog:
        """The server's models, asked once per process."""
        if self._catalog is None:
            from .catalog import ModelCatalog

            async def installed(client: BenchClient) -> list[ModelDetails]:
                return await client.installed_models()

            def fetch() -> list[ModelDetails]:
                return self.loop.run(self._side_request(installed))

            self._catalog = ModelCatalog(fetch, self.settings, self.display_host)
        return self._catalog

    def server_version(self) -> str | None:
        """The server's version string, or None when it cannot be read."""
        from .errors import ServerError

        async def version(client: BenchClient) -> str:
            return await client.version()

        short = min(self.settings.timeout, SIDE_REQUEST_TIMEOUT_S)
        try:  # a deadline for the whole exchange, not only between bytes
            return self.loop.run(self._side_request(version, short), timeout=2 * short) or None
        except (ServerError, OSError, ValueError, TimeoutError, concurrent.futures.TimeoutError):
            return None

    def loaded_model_memory(self, model: str) -> tuple[float | None, float | None]:
        """``(VRAM MiB, size MiB)`` of ``model`` as Ollama's ``/api/ps`` reports it.

        ``(None, None)`` on an OpenAI-compatible server, when the model is not loaded or the
        server does not answer.
        """
        if self.settings.api != "native":
            return None, None
        from .client import OllamaClient
        from .errors import ServerError
        from .resources import vram_from_ps

        async def ps() -> list[dict[str, Any]]:
            async with OllamaClient(self.settings.host, timeout=SIDE_REQUEST_TIMEOUT_S) as client:
                return await client.ps()

        try:
            return vram_from_ps(self.loop.run(ps(), timeout=2 * SIDE_REQUEST_TIMEOUT_S), model)
        except (ServerError, ValueError, TimeoutError, concurrent.futures.TimeoutError):
            return None, None

    def close(self) -> None:
        """Close the shared client and stop the private loop."""
        client, self._client = self._client, None
        if self._loop_thread is not None:
            self._loop_thread.close(client.aclose() if client is not None else None)
            self._loop_thread = None


async def _in_trio_thread(call: Callable[[], T]) -> T:
    """Await ``call()`` in a worker thread of the running trio loop."""
    import sys

    trio = sys.modules.get("trio")
    running = False
    if trio is not None:
        try:
            trio.lowlevel.current_task()
            running = True
        except RuntimeError:
            running = False
    if trio is None or not running:
        raise RuntimeError(
            "ollama_bench.achat()/agenerate() need a running asyncio event loop (or trio); "
            "under another event loop call the sync chat()/generate() instead"
        )
    result: T = await trio.to_thread.run_sync(call)
    return result
