"""A private event loop in a daemon thread, so synchronous code can await coroutines anywhere.

Plain (sync) tests may run inside another plugin's event loop, or none; calling
``asyncio.run`` there would clash. The sync fixture methods hand their coroutine to a
:class:`LoopThread` and wait for the result instead, and the HTTP session they use lives on that
loop for the whole test session, so connections are reused across tests. The server's
``EmulatorThread`` serves an Ollama-protocol server from one the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from collections.abc import Coroutine
from typing import Any
from typing import TypeVar

__all__ = ["CANCEL_GRACE_S", "LoopThread"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

T = TypeVar("T")

#: Seconds an abandoned coroutine is given to unwind after it is cancelled.
CANCEL_GRACE_S = 5.0


class LoopThread:
    """Runs an asyncio event loop in a daemon thread, from first use until :meth:`close`.

    :meth:`run` awaits a coroutine there and :meth:`call` calls a function there, both from any
    other thread, returning the result or raising the exception. :meth:`close` runs an optional
    finalizer on the loop, then cancels what is still pending, shuts down async generators and
    the default executor, and joins the thread. A closed ``LoopThread`` starts a new loop if it
    is used again.
    """

    def __init__(self, name: str = "pytest-ollama-bench") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The thread's name."""
        return self._name

    @property
    def running(self) -> bool:
        """Whether the thread has been started and not closed."""
        return self._loop is not None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started (in its thread) on first use."""
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                self._thread = threading.Thread(
                    target=self._serve, args=(loop, ready), name=self._name, daemon=True
                )
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def in_thread(self) -> bool:
        """Whether the caller runs on this loop's thread."""
        return self._thread is not None and threading.current_thread() is self._thread

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        """Thread body: run the loop until stopped, then clean it up and close it."""
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            asyncio.set_event_loop(None)
            loop.close()

    def run(self, coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and return its result (or raise its exception).

        A caller that stops waiting abandons the coroutine, and an abandoned coroutine is
        cancelled: past ``timeout``, or when the wait is interrupted (Ctrl-C, pytest-timeout's
        signal, any exception raised in the waiting thread), the coroutine is cancelled and
        given up to :data:`CANCEL_GRACE_S` seconds to unwind (closing its connections) before
        the exception propagates.

        :param coro: the coroutine; closed unrun when it cannot be scheduled.
        :param timeout: seconds to wait (``None``: no limit); past it
            ``concurrent.futures.TimeoutError`` (the built-in ``TimeoutError`` since Python
            3.11) is raised.
        :raises RuntimeError: when called from the loop's own thread (it would wait for itself;
            ``await`` the coroutine there instead).
        """
        __tracebackhide__ = True
        if self.in_thread():
            coro.close()
            raise RuntimeError("LoopThread.run() called from its own loop; await instead")
        loop = self.loop
        tasks: list[asyncio.Task[Any]] = []

        async def tracked() -> T:
            task = asyncio.current_task()
            if task is not None:
                tasks.append(task)
            return await coro

        future = asyncio.run_coroutine_threadsafe(tracked(), loop)
        try:
            return future.result(timeout)
        except BaseException:
            if not future.done():
                self._cancel(loop, tasks)
                future.cancel()
            raise

    @staticmethod
    def _cancel(loop: asyncio.AbstractEventLoop, tasks: list[asyncio.Task[Any]]) -> None:
        """Cancel an abandoned task and wait (briefly) until it has unwound."""

        async def cancel() -> None:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=CANCEL_GRACE_S)

        if loop.is_closed():
            return
        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            asyncio.run_coroutine_threadsafe(cancel(), loop).result(CANCEL_GRACE_S + 1.0)

    def call(self, fn: Callable[[], T], *, timeout: float | None = None) -> T:
        """Call ``fn()`` on the loop's thread and return its result (or raise its exception).

        For state that only the loop's thread may touch. From that thread itself ``fn`` is
        simply called.

        :param timeout: as for :meth:`run`.
        """
        if self.in_thread():
            return fn()

        async def on_loop() -> T:
            return fn()

        return self.run(on_loop(), timeout=timeout)

    def close(
        self, finalizer: Coroutine[Any, Any, Any] | None = None, *, timeout: float | None = None
    ) -> None:
        """Run ``finalizer`` (e.g. closing HTTP sessions) on the loop, then stop the thread.

        Idempotent: without a running loop the finalizer is closed unrun. The thread is stopped
        also when the finalizer fails; its exception is raised afterwards.

        :param timeout: seconds to wait for the finalizer, and again for the thread to end
            (``None``: no limit).
        :raises RuntimeError: when called from the loop's own thread.
        """
        if self.in_thread():
            if finalizer is not None:
                finalizer.close()
            raise RuntimeError("LoopThread.close() called from its own loop")
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            if finalizer is not None:
                finalizer.close()
            return
        try:
            if finalizer is not None:
                asyncio.run_coroutine_threadsafe(finalizer, loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
