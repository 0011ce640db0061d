"""LoopThread: the one event loop in a daemon thread, used by the plugin and the server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import pytest

from pytest_ollama_bench.loop import LoopThread


def _threads_named(name: str) -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == name]


async def _thread_name() -> str:
    return threading.current_thread().name


def test_starts_on_first_use_and_runs_coroutines_on_its_thread() -> None:
    loop_thread = LoopThread("loop-first-use")
    assert not loop_thread.running
    assert _threads_named("loop-first-use") == []
    try:
        assert loop_thread.run(_thread_name()) == "loop-first-use"
        assert loop_thread.running
        assert len(_threads_named("loop-first-use")) == 1
        assert loop_thread.call(lambda: threading.current_thread().name) == "loop-first-use"
    finally:
        loop_thread.close()


def test_runs_from_several_other_threads_on_one_loop() -> None:
    loop_thread = LoopThread("loop-shared")
    loops: list[asyncio.AbstractEventLoop] = []

    async def which_loop() -> asyncio.AbstractEventLoop:
        await asyncio.sleep(0.01)
        return asyncio.get_running_loop()

    def worker() -> None:
        loops.append(loop_thread.run(which_loop()))

    try:
        workers = [threading.Thread(target=worker) for _ in range(4)]
        for thread in workers:
            thread.start()
        for thread in workers:
            thread.join(timeout=30)
        assert len(loops) == 4
        assert {id(loop) for loop in loops} == {id(loop_thread.loop)}
    finally:
        loop_thread.close()


def test_exceptions_propagate_to_the_caller() -> None:
    loop_thread = LoopThread("loop-errors")

    async def fail() -> None:
        raise ValueError("boom in a coroutine")

    def fail_sync() -> None:
        raise KeyError("boom in a function")

    try:
        with pytest.raises(ValueError, match="boom in a coroutine"):
            loop_thread.run(fail())
        with pytest.raises(KeyError, match="boom in a function"):
            loop_thread.call(fail_sync)
        assert loop_thread.run(_thread_name()) == "loop-errors"  # still serving
    finally:
        loop_thread.close()


def test_run_from_its_own_thread_is_refused() -> None:
    loop_thread = LoopThread("loop-own-thread")
    inner = _thread_name()

    async def nested() -> str:
        with pytest.raises(RuntimeError, match="called from its own loop; await instead"):
            loop_thread.run(inner)
        # call() from the loop's thread just calls
        return loop_thread.call(lambda: "direct")

    try:
        assert loop_thread.run(nested()) == "direct"
        assert inner.cr_frame is None  # closed unrun, not left to warn "never awaited"
    finally:
        loop_thread.close()


def test_timeout_leaves_the_coroutine_to_close() -> None:
    loop_thread = LoopThread("loop-timeout")
    cancelled = threading.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(concurrent.futures.TimeoutError):
        loop_thread.run(slow(), timeout=0.05)
    loop_thread.close(timeout=30)
    assert cancelled.is_set()  # close() cancels what is still pending


def test_close_runs_the_finalizer_on_the_loop_then_stops_the_thread() -> None:
    loop_thread = LoopThread("loop-close")
    loop = loop_thread.loop
    ran_on: list[str] = []

    async def finalizer() -> None:
        ran_on.append(threading.current_thread().name)

    loop_thread.close(finalizer())
    assert ran_on == ["loop-close"]
    assert not loop_thread.running
    assert _threads_named("loop-close") == []
    assert loop.is_closed()


def test_close_stops_the_thread_when_the_finalizer_fails() -> None:
    loop_thread = LoopThread("loop-close-fails")
    loop = loop_thread.loop

    async def finalizer() -> None:
        raise OSError("finalizer failed")

    with pytest.raises(OSError, match="finalizer failed"):
        loop_thread.close(finalizer())
    assert _threads_named("loop-close-fails") == []
    assert loop.is_closed()


def test_close_is_idempotent_and_closes_an_unrun_finalizer() -> None:
    never_started = LoopThread("loop-never-started")
    ran: list[bool] = []

    async def finalizer() -> None:
        ran.append(True)

    coro = finalizer()
    never_started.close(coro)
    assert ran == []
    assert coro.cr_frame is None  # closed, so no "never awaited" warning

    loop_thread = LoopThread("loop-twice")
    loop_thread.run(_thread_name())
    loop_thread.close()
    loop_thread.close()
    loop_thread.close(finalizer())
    assert ran == []
    assert not loop_thread.running


def test_a_closed_loop_thread_starts_again_on_use() -> None:
    loop_thread = LoopThread("loop-again")
    first = loop_thread.loop
    loop_thread.close()
    try:
        assert loop_thread.run(_thread_name()) == "loop-again"
        assert loop_thread.loop is not first
    finally:
        loop_thread.close()
