"""The bytes of one inference response: native chunks, NDJSON and SSE writers, completions.

:class:`ChunkBuilder` builds the native chunks in Go's field order; :class:`NdjsonWire` writes
them as Ollama's NDJSON stream and :class:`SseWire` re-encodes them as the OpenAI-compatible SSE
events of Ollama's ``ChatWriter``; :func:`chat_completion` is the non-streamed ``/v1`` body.
Each written line is drained before the next one, so its time is when it left the server.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from ._go import marshal
from ._requests import InferenceParams
from .engine import Final
from .engine import GenerationRequest
from .engine import Piece
from .responses import NDJSON
from .responses import NS_PER_S
from .responses import SSE
from .responses import Call
from .responses import now
from .responses import unix_seconds

__all__ = ["ChunkBuilder", "LineLog", "NdjsonWire", "SseWire", "chat_completion"]

LineLog = Callable[[int, int], None]
"""Called with ``(request_seq, line_index)`` right after each line was written and drained."""


def _stand_in_ids(text: str) -> list[int]:
    return [
        int.from_bytes(word.encode()[:3].ljust(3, b"\0"), "big") % 128_000 + 256
        for word in re.findall(r"\s*\S+", text)
    ]


class ChunkBuilder:
    """Builds the native chunks of one response, in Go's field order.

    ``t0`` is when the request arrived and ``t_loaded`` when its model was loaded
    (``perf_counter_ns``): the final chunk's ``total_duration`` and ``load_duration``.
    """

    def __init__(
        self, params: InferenceParams, request: GenerationRequest, t0: int, t_loaded: int
    ) -> None:
        self._params = params
        self._request = request
        self._t0 = t0
        self._t_loaded = t_loaded
        self._answer: list[str] = []

    @property
    def _chat(self) -> bool:
        return self._params.endpoint == "chat"

    def _text_fields(
        self, content: str, thinking: str, tool_calls: Sequence[dict[str, Any]] = ()
    ) -> dict[str, Any]:
        if self._chat:
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if thinking:
                message["thinking"] = thinking
            if tool_calls:
                message["tool_calls"] = list(tool_calls)
            return {"message": message}
        fields: dict[str, Any] = {"response": content}
        if thinking:
            fields["thinking"] = thinking
        return fields

    def _generate_tools(self, chunk: dict[str, Any], tool_calls: Sequence[dict[str, Any]]) -> None:
        if tool_calls and not self._chat:  # GenerateResponse has them last
            chunk["tool_calls"] = list(tool_calls)

    def piece(self, piece: Piece) -> dict[str, Any]:
        """The ``done: false`` chunk carrying ``piece``."""
        self._answer.append(piece.content)
        chunk = {
            "model": self._params.model,
            "created_at": now(),
            **self._text_fields(piece.content, piece.thinking, piece.tool_calls),
            "done": False,
        }
        self._generate_tools(chunk, piece.tool_calls)
        return chunk

    def final(
        self,
        final: Final,
        content: str = "",
        thinking: str = "",
        tool_calls: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """The ``done: true`` chunk: the engine's counts and durations, zero ones omitted."""
        total = time.perf_counter_ns() - self._t0
        params = self._params
        chunk: dict[str, Any] = {
            "model": params.model,
            "created_at": now(),
            **self._text_fields(content, thinking, tool_calls),
            "done": True,
        }
        if final.done_reason:
            chunk["done_reason"] = final.done_reason
        if not self._chat and not params.raw:
            context = final.context
            if context is None:
                request = self._request
                answer = content or "".join(self._answer)
                context = tuple(_stand_in_ids(f"{request.system or ''} {request.prompt}{answer}"))
            if context:
                chunk["context"] = list(context)
        metrics = (
            ("total_duration", total),
            ("load_duration", self._t_loaded - self._t0),
            ("prompt_eval_count", final.prompt_eval_count),
            ("prompt_eval_cached_count", final.prompt_eval_cached_count),
            ("prompt_eval_duration", final.prompt_eval_duration),
            ("eval_count", final.eval_count),
            ("eval_duration", final.eval_duration),
        )
        for key, value in metrics:
            # a cached count is a pointer in Go (sent when set, 0 too); the rest omitempty
            if value or (key == "prompt_eval_cached_count" and value is not None):
                chunk[key] = int(value)
        self._generate_tools(chunk, tool_calls)
        return chunk


class NdjsonWire:
    """Writes one streamed native response: headers with the first line, each line drained."""

    content_type = NDJSON

    def __init__(self, call: Call, log: LineLog) -> None:
        self._call = call
        self._log = log
        self.response: web.StreamResponse | None = None
        self._index = 0

    @property
    def started(self) -> bool:
        """Whether the status and headers went out (an error is then a line, not a status)."""
        return self.response is not None

    async def _start(self) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={"Content-Type": self.content_type})
        response.enable_chunked_encoding()
        await response.prepare(self._call.request)
        transport = self._call.request.transport
        if transport is not None:
            # pause (and so make drain() wait) whenever anything is left unsent
            transport.set_write_buffer_limits(high=0)
        self.response = response
        return response

    async def write(self, data: bytes) -> None:
        """Write ``data`` (headers first if needed) and wait until it was sent."""
        response = self.response or await self._start()
        await response.write(data)
        await self._call.request.writer.drain()
        self._log(self._call.seq, self._index)
        self._index += 1

    async def send(self, chunk: dict[str, Any], final: bool) -> None:
        """Write one chunk as a line."""
        await self.write(marshal(chunk) + b"\n")

    async def error_line(self, message: str) -> None:
        """Ollama's mid-stream error line."""
        await self.write(marshal({"error": message}) + b"\n")

    async def malformed(self, chunk: dict[str, Any]) -> None:
        """A line that is not JSON: the first half of ``chunk``'s."""
        data = marshal(chunk)
        await self.write(data[: max(len(data) // 2, 1)] + b"\n")

    async def finish(self) -> web.StreamResponse:
        """End the body properly."""
        return self.response or await self._start()

    async def cut(self, abort: bool) -> web.StreamResponse:
        """End the body early; with ``abort`` drop the connection without a final chunk."""
        if not abort:
            return await self.finish()
        transport = self._call.request.transport
        if transport is not None:
            transport.close()  # no terminating chunk: the body is incomplete
        return self.response or web.Response(status=200)


class SseWire(NdjsonWire):
    """Ollama's ``ChatWriter``: native chat chunks re-encoded as OpenAI SSE events."""

    content_type = SSE

    def __init__(self, call: Call, log: LineLog, params: InferenceParams) -> None:
        super().__init__(call, log)
        self._id = f"chatcmpl-{random.randrange(999)}"
        self._include_usage = params.include_usage
        self._created: int | None = None
        self._first_sent = False
        self._tool_calls = False

    def _pin_created(self, created_at: str | None) -> int:
        if self._created is None:
            self._created = unix_seconds(created_at) if created_at else time.time_ns() // NS_PER_S
        return self._created

    def _chunk(
        self, model: str, created: int, delta: dict[str, Any], reason: str | None
    ) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "system_fingerprint": "fp_ollama",
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}],
        }

    def _deltas(
        self, content: str, thinking: str, tool_calls: Sequence[dict[str, Any]] = ()
    ) -> list[dict[str, Any]]:
        role: dict[str, Any] = {} if self._first_sent else {"role": "assistant"}
        deltas: list[dict[str, Any]]
        if thinking and content:
            deltas = [{**role, "reasoning": thinking}, {"content": content}]
        else:
            delta: dict[str, Any] = {**role, "content": content}
            if thinking:
                delta["reasoning"] = thinking
            deltas = [delta]
        if tool_calls:
            self._tool_calls = True
            deltas[-1]["tool_calls"] = [_openai_tool_call(call) for call in tool_calls]
        return deltas

    async def event(self, obj: dict[str, Any]) -> None:
        """One ``data:`` event."""
        await self.write(b"data: " + marshal(obj) + b"\n\n")

    async def send(self, chunk: dict[str, Any], final: bool) -> None:
        message = chunk["message"]
        content, thinking = message["content"], message.get("thinking", "")
        calls = message.get("tool_calls") or ()
        created = self._pin_created(chunk["created_at"])
        model = chunk["model"]
        if not (final and self._first_sent and not content and not thinking and not calls):
            for delta in self._deltas(content, thinking, calls):
                await self.event(self._chunk(model, created, delta, None))
            self._first_sent = True
        if not final:
            return
        reason = "tool_calls" if self._tool_calls else chunk.get("done_reason") or "stop"
        finish = self._chunk(model, created, {}, reason)
        await self.event(finish)
        if self._include_usage:
            await self.event({**finish, "choices": [], "usage": _usage(chunk)})
        await self.write(b"data: [DONE]\n\n")

    async def error_line(self, message: str) -> None:
        # Ollama's ChatWriter decodes {"error": ...} as an empty ChatResponse: an empty content
        # chunk with model "" goes out and the stream ends without [DONE].
        created = self._pin_created(None)
        for delta in self._deltas("", ""):
            await self.event(self._chunk("", created, delta, None))
        self._first_sent = True

    async def malformed(self, chunk: dict[str, Any]) -> None:
        data = marshal(chunk)
        await self.write(b"data: " + data[: max(len(data) // 2, 1)] + b"\n\n")


def _usage(chunk: dict[str, Any]) -> dict[str, Any]:
    """``/v1`` usage from a final native chunk; cache hits, when any, in the details."""
    prompt = int(chunk.get("prompt_eval_count", 0))
    completion = int(chunk.get("eval_count", 0))
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    cached = int(chunk.get("prompt_eval_cached_count") or 0)
    if cached > 0:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    return usage


def _openai_tool_call(call: dict[str, Any]) -> dict[str, Any]:
    """A native tool call as an OpenAI one: arguments as JSON text, ``type`` function."""
    function = call.get("function") or {}
    return {
        "id": call.get("id", ""),
        "index": function.get("index", 0),
        "type": "function",
        "function": {
            "name": function.get("name", ""),
            "arguments": marshal(function.get("arguments", {})).decode(),
        },
    }


def chat_completion(chunk: dict[str, Any]) -> dict[str, Any]:
    """``openai.ToChatCompletion`` of the final native chat object (non-streamed ``/v1``)."""
    message: dict[str, Any] = {"role": "assistant", "content": chunk["message"]["content"]}
    if chunk["message"].get("thinking"):
        message["reasoning"] = chunk["message"]["thinking"]
    calls = chunk["message"].get("tool_calls")
    if calls:
        message["tool_calls"] = [_openai_tool_call(call) for call in calls]
    return {
        "id": f"chatcmpl-{random.randrange(999)}",
        "object": "chat.completion",
        "created": unix_seconds(chunk["created_at"]),
        "model": chunk["model"],
        "system_fingerprint": "fp_ollama",
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else chunk.get("done_reason") or None,
            }
        ],
        "usage": _usage(chunk),
    }
