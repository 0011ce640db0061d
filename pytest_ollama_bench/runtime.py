"""The run context of one pytest process: the private event loop and, per server, its
clients, its host lock and its model catalog.

No pytest here. Sync benchmark calls run on a private loop in a thread (so they work in plain
tests and inside another plugin's running loop alike) with one client per server shared across
tests; async calls run on the test's own loop with a client of their own. Under pytest-xdist
each call holds its server's lock, so workers take turns on a server, and workers on different
servers run at once.
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

__all__ = ["BenchClient", "HostRuntime", "Runtime"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

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


class HostRuntime:
    """The shared client, host lock and model catalog of one server (a :class:`Runner`).

    :param settings: the session's settings with ``host`` set to this server.
    :param loop: the process's private loop thread (started on first use).
    :param serialize: take this server's lock around every call (xdist workers).
    """

    def __init__(
        self, settings: Settings, loop: Callable[[], LoopThread], *, serialize: bool = False
    ) -> None:
        self.settings = settings
        self.display_host = redact_host(settings.host)
        self._loop = loop
        self._serialize = serialize
        self._client: BenchClient | None = None
        self._lock: HostLock | None = None
        self._catalog: ModelCatalog | None = None

    # ----------------------------------------------------------------- clients

    def new_client(self, timeout: float | None = None) -> BenchClient:
        """A fresh client for this server and the API, bound to the running loop."""
        seconds = self.settings.timeout if timeout is None else timeout
        if self.settings.api == "openai":
            from .openai import OpenAIClient

            return OpenAIClient(self.settings.host, timeout=seconds)
        from .client import OllamaClient

        return OllamaClient(self.settings.host, timeout=seconds)

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
                return self._loop().run(call())
            with lock:
                return self._loop().run(call())
        except BaseException:
            self._drop_client()
            raise

    def _drop_client(self) -> None:
        """Close the shared client (a fresh one serves the next call)."""
        client, self._client = self._client, None
        if client is None:
            return
        # best effort: the connections die with the loop anyway
        with contextlib.suppress(Exception):
            self._loop().run(client.aclose(), timeout=SIDE_REQUEST_TIMEOUT_S)

    def take_client(self) -> BenchClient | None:
        """Hand over the shared client (to be closed by the caller), keeping none."""
        client, self._client = self._client, None
        return client

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
                return self._loop().run(self._side_request(installed))

            self._catalog = ModelCatalog(fetch, self.settings, self.display_host)
        return self._catalog

    def server_version(self) -> str | None:
        """The server's version string, or None when it cannot be read."""
        from .errors import ServerError

        async def version(client: BenchClient) -> str:
            return await client.version()

        short = min(self.settings.timeout, SIDE_REQUEST_TIMEOUT_S)
        try:  # a deadline for the whole exchange, not only between bytes
            return self._loop().run(self._side_request(version, short), timeout=2 * short) or None
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
            found = self._loop().run(ps(), timeout=2 * SIDE_REQUEST_TIMEOUT_S)
            return vram_from_ps(found, model)
        except (ServerError, ValueError, TimeoutError, concurrent.futures.TimeoutError):
            return None, None


class Runtime:
    """The run context of one process: a :class:`HostRuntime` per server (its client, lock
    and catalog) on one private loop thread.

    The methods of one server (``run_sync``, ``catalog``, ...) here are the first server's,
    where the session has one.

    :param settings: the session's settings.
    :param serialize: take each server's lock around every call on it (xdist workers).
    """

    def __init__(self, settings: Settings, *, serialize: bool = False) -> None:
        from .credentials import authorization

        for host in settings.targets:
            authorization(host, settings.api)  # HostError now, not in every test
        self.settings = settings
        self.display_host = redact_host(settings.host)
        self._serialize = serialize
        self._loop_thread: LoopThread | None = None
        self._hosts: dict[str, HostRuntime] = {}

    @property
    def loop(self) -> LoopThread:
        """The private loop of sync calls, started on first use."""
        if self._loop_thread is None:
            from .loop import LoopThread

            self._loop_thread = LoopThread()
        return self._loop_thread

    def host(self, url: str | None = None) -> HostRuntime:
        """The run context of the server ``url`` (one of the session's; None: the first)."""
        url = self.settings.host if url is None else url
        found = self._hosts.get(url)
        if found is None:
            import dataclasses

            settings = dataclasses.replace(self.settings, host=url)
            found = HostRuntime(settings, lambda: self.loop, serialize=self._serialize)
            self._hosts[url] = found
        return found

    # the first server's, for a session of one
    def new_client(self, timeout: float | None = None) -> BenchClient:
        """A fresh client for the first server (see :meth:`HostRuntime.new_client`)."""
        return self.host().new_client(timeout)

    def run_sync(self, fn: Call[T]) -> T:
        """:meth:`HostRuntime.run_sync` on the first server."""
        __tracebackhide__ = True
        return self.host().run_sync(fn)

    async def run_async(self, fn: Call[T]) -> T:
        """:meth:`HostRuntime.run_async` on the first server."""
        __tracebackhide__ = True
        return await self.host().run_async(fn)

    @property
    def catalog(self) -> ModelCatalog:
        """The first server's models."""
        return self.host().catalog

    def server_version(self) -> str | None:
        """The first server's version string, or None when it cannot be read."""
        return self.host().server_version()

    def loaded_model_memory(self, model: str) -> tuple[float | None, float | None]:
        """:meth:`HostRuntime.loaded_model_memory` on the first server."""
        return self.host().loaded_model_memory(model)

    def close(self) -> None:
        """Close the shared clients and stop the private loop."""
        clients = [c for h in self._hosts.values() if (c := h.take_client()) is not None]
        if self._loop_thread is not None:

            async def close_all() -> None:
                for client in clients:
                    with contextlib.suppress(Exception):
                        await client.aclose()

            self._loop_thread.close(close_all() if clients else None)
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
