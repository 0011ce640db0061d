"""A private event loop in a daemon thread, so sync code can await coroutines anywhere.

Plain (sync) tests may run inside another plugin's event loop, or none; calling
``asyncio.run`` there would clash. The sync fixture methods hand their coroutine to this loop
and wait for the result instead, and the HTTP session they use lives on this loop for the whole
test session, so connections are reused across tests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any
from typing import TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """Runs an asyncio event loop in a daemon thread until :meth:`close`."""

    def __init__(self, name: str = "pytest-ollama-bench") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started on first use."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name=self._name, daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the thread's loop and return its result (or raise its exception)."""
        loop = self.loop
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("LoopThread.run() called from its own loop; await instead")
        return asyncio.run_coroutine_threadsafe(coro, loop).result()

    def close(self, finalizer: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run ``finalizer`` (e.g. closing HTTP sessions) on the loop, then stop it."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            if finalizer is not None:
                finalizer.close()
            return
        if finalizer is not None:
            asyncio.run_coroutine_threadsafe(finalizer, loop).result()

        async def shutdown() -> None:
            await loop.shutdown_asyncgens()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
