"""Streaming from xllamacpp's blocking call into the event loop, as pieces and a Final.

``Server.handle_chat_completions(request, callback)`` / ``handle_completions`` with
``"stream": True`` block the calling thread and call ``callback(chunk_dict)`` in that thread
for every OpenAI-style SSE chunk; returning ``True`` from the callback stops the generation.
They run in a worker thread here and every chunk is handed to the event loop with
``loop.call_soon_threadsafe``, so the loop never blocks and pieces are yielded as soon as
llama.cpp produces them. The last chunk carries ``finish_reason`` (``"length"`` or ``"stop"``)
and ``timings`` (``prompt_n``/``prompt_ms``, ``predicted_n``/``predicted_ms``): the
:class:`~pytest_ollama_bench.server.engine.Final` reports those, nothing is re-timed.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from ..engine import EngineError
from ..engine import Final
from ..engine import Piece

__all__ = ["Handler", "stream_llamacpp"]

Handler = Callable[[dict[str, Any], Callable[[Any], bool]], Any]
"""``xllamacpp.Server.handle_chat_completions`` or ``handle_completions``."""


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
        prompt_eval_count=int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0)),
        prompt_eval_cached_count=(
            int(timings["cache_n"]) if timings.get("cache_n") is not None else None
        ),
        prompt_eval_duration=_ms_to_ns(timings.get("prompt_ms", 0.0)),
        eval_count=int(timings.get("predicted_n", 0)),
        eval_duration=_ms_to_ns(timings.get("predicted_ms", 0.0)),
    )


def _run_handler(
    handler: Handler,
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


async def stream_llamacpp(
    handler: Handler,
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
