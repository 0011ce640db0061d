"""Inference requests: ``/api/chat``, ``/api/generate`` and ``/v1/chat/completions``.

A request is decoded, checked as Ollama checks it (model, capabilities, raw mode, options),
its model loaded (``load_duration`` is timed here), then either streamed line by line or
answered once, with the model's :class:`~.faults.Fault` applied at its chunk positions. Empty
``messages``/``prompt`` only load the model (or, with ``keep_alive`` 0, unload it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..names import parse_model_name
from ._go import go_quote
from ._go import marshal
from ._openai_requests import decode_openai_chat
from ._requests import InferenceParams
from ._requests import RequestError
from ._requests import decode_chat
from ._requests import decode_generate
from ._requests import validate_options
from .catalog import canonical_name
from .catalog import find_card
from .engine import Engine
from .engine import EngineError
from .engine import Final
from .engine import GenerationRequest
from .engine import ModelCard
from .engine import Piece
from .faults import QUEUE_FULL_MESSAGE
from .faults import Fault
from .faults import FaultCursor
from .keepalive import KeepAlive
from .responses import JSON
from .responses import JSON_BARE
from .responses import Call
from .responses import Flavor
from .responses import error_response
from .responses import json_response
from .responses import now
from .responses import response
from .slots import QueueFullError
from .slots import SlotPool
from .wire import ChunkBuilder
from .wire import LineLog
from .wire import NdjsonWire
from .wire import SseWire
from .wire import chat_completion

__all__ = ["Inference", "TakeFault"]

_log = logging.getLogger(__name__)
_THINK_LEVELS = ("high", "medium", "low", "max")

TakeFault = Callable[[ModelCard, bool], Fault | None]
"""``(card, generating)`` -> the fault this request consumes for that model, if any."""


@dataclass
class _Plan:
    """A validated inference request, ready to run."""

    params: InferenceParams
    flavor: Flavor
    card: ModelCard
    request: GenerationRequest
    fault: Fault | None
    t_loaded: int


@dataclass
class _LoadOnly:
    """A load-only request (empty ``messages``/``prompt``) whose model is now loaded."""

    card: ModelCard


def _think_truthy(think: bool | str | None) -> bool:
    return think is True or think in _THINK_LEVELS


def _engine_failure(exc: Exception) -> tuple[int, str]:
    """Status and text for an engine failure; anything but EngineError is logged as a bug."""
    if isinstance(exc, EngineError):
        return exc.status, exc.message
    _log.error("engine failure", exc_info=exc)
    return 500, str(exc) or type(exc).__name__


async def _aclose(iterator: AsyncIterator[Piece | Final]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


def _status_object(params: InferenceParams, reason: str) -> dict[str, Any]:
    """The ``done`` object of a load or unload request."""
    if params.endpoint == "chat":
        text: dict[str, Any] = {"message": {"role": "assistant", "content": ""}}
    else:
        text = {"response": ""}
    return {
        "model": params.model,
        "created_at": now(),
        **text,
        "done": True,
        "done_reason": reason,
    }


class Inference:
    """Serves the inference endpoints from ``engine``.

    ``take_fault`` hands out the fault a request consumes; ``log`` is told of every streamed
    line (the server's ``chunk_log``). A request that generates holds one of its model's
    ``slots`` from after the load to its last line (a full queue: HTTP 503, see ``slots.py``).
    """

    def __init__(
        self,
        engine: Engine,
        keep_alive: KeepAlive,
        take_fault: TakeFault,
        log: LineLog,
        slots: SlotPool | None = None,
    ) -> None:
        self._engine = engine
        self._keep_alive = keep_alive
        self._take_fault = take_fault
        self._log = log
        self._slots = slots if slots is not None else SlotPool(engine)

    # -- endpoints ----------------------------------------------------------------------------

    async def chat(self, call: Call) -> web.StreamResponse:
        """``POST /api/chat``."""
        try:
            params = decode_chat(call.body)
        except RequestError as exc:
            return error_response(Flavor.NATIVE, exc.status, exc.message)
        return await self.handle(call, params, Flavor.NATIVE)

    async def generate(self, call: Call) -> web.StreamResponse:
        """``POST /api/generate``."""
        try:
            params = decode_generate(call.body)
        except RequestError as exc:
            return error_response(Flavor.NATIVE, exc.status, exc.message)
        return await self.handle(call, params, Flavor.NATIVE)

    async def v1_chat(self, call: Call) -> web.StreamResponse:
        """``POST /v1/chat/completions``."""
        try:
            params = decode_openai_chat(call.body)
        except RequestError as exc:
            return error_response(Flavor.OPENAI, exc.status, exc.message)
        return await self.handle(call, params, Flavor.OPENAI)

    async def handle(
        self, call: Call, params: InferenceParams, flavor: Flavor
    ) -> web.StreamResponse:
        """Answer a decoded request; its model's keep_alive is renewed afterwards."""
        loaded: str | None = None
        try:
            outcome = await self._prepare(params, flavor)
            if isinstance(outcome, web.StreamResponse):
                return outcome
            loaded = outcome.card.name
            if isinstance(outcome, _LoadOnly):
                return json_response(200, _status_object(params, "load"))
            async with self._slots.hold(call.seq, outcome.card.name):
                if params.stream:
                    return await self._stream(call, outcome)
                return await self._once(call, outcome)
        except QueueFullError:
            loaded = None  # rejected before reaching the runner: its keep_alive is not renewed
            return error_response(flavor, 503, QUEUE_FULL_MESSAGE)
        except RequestError as exc:
            return error_response(flavor, exc.status, exc.message)
        finally:
            if loaded is not None:
                await self._keep_alive.touch(loaded, params.keep_alive_ns)

    # -- steps --------------------------------------------------------------------------------

    async def _prepare(
        self, params: InferenceParams, flavor: Flavor
    ) -> _Plan | _LoadOnly | web.StreamResponse:
        chat = params.endpoint == "chat"
        requested = params.model
        if not requested.strip():
            if chat:
                raise RequestError(400, "model is required")
            raise RequestError(404, f"model '{requested}' not found")
        name = parse_model_name(requested.strip())
        if name is None:
            raise RequestError(400, "invalid model name")
        card = find_card(self._engine, name)
        if card is None:
            raise RequestError(404, f"model '{requested}' not found")
        full_name = canonical_name(self._engine, name).full

        empty = not params.messages if chat else params.prompt == ""
        if empty and params.keep_alive_ns == 0:
            await self._keep_alive.unload(card.name)
            return json_response(200, _status_object(params, "unload"))
        if not chat and params.raw and (params.template or params.system or params.context):
            raise RequestError(400, "raw mode does not support template, system, or context")

        capabilities = card.capabilities
        think = params.think
        if "thinking" in capabilities:
            if think is None:
                think = True
        elif _think_truthy(think):
            raise RequestError(400, f"{go_quote(requested)} does not support thinking")
        if "completion" not in capabilities:
            what = "chat" if chat else "generate"
            raise RequestError(400, f"{go_quote(requested)} does not support {what}")
        if chat and params.tools and "tools" not in capabilities:
            raise RequestError(400, f"{full_name} does not support tools")
        if not chat and params.suffix and "insert" not in capabilities:
            raise RequestError(400, f"{full_name} does not support insert")
        validate_options(params.options)

        fault = self._take_fault(card, not empty)
        if fault is not None and fault.status is not None:
            raise RequestError(fault.status, fault.status_message(requested))

        await self._keep_alive.expire_if_due(card.name)
        try:
            await self._engine.load(card.name)
        except Exception as exc:
            raise RequestError(*_engine_failure(exc)) from None
        t_loaded = time.perf_counter_ns()
        if empty:
            return _LoadOnly(card=card)
        request = GenerationRequest(
            endpoint=params.endpoint,
            model=card.name,
            messages=params.messages,
            prompt=params.prompt,
            system=params.system or None,
            raw=params.raw,
            options=params.options,
            think=think,
            tools=list(params.tools),
        )
        return _Plan(
            params=params,
            flavor=flavor,
            card=card,
            request=request,
            fault=fault,
            t_loaded=t_loaded,
        )

    async def _stream(self, call: Call, plan: _Plan) -> web.StreamResponse:
        wire = (
            SseWire(call, self._log, plan.params)
            if plan.flavor is Flavor.OPENAI
            else NdjsonWire(call, self._log)
        )
        fault = plan.fault
        cursor = FaultCursor(fault) if fault is not None and fault.affects_stream else None
        builder = ChunkBuilder(plan.params, plan.request, call.t0, plan.t_loaded)
        try:
            items = self._engine.generate(plan.request)
        except Exception as exc:
            status, message = _engine_failure(exc)
            return error_response(plan.flavor, status, message, in_stream=True)
        index = 0
        try:
            while True:
                try:
                    item = await items.__anext__()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    status, message = _engine_failure(exc)
                    if not wire.started:
                        return error_response(plan.flavor, status, message, in_stream=True)
                    await wire.error_line(message)
                    break
                final = isinstance(item, Final)
                chunk = builder.final(item) if isinstance(item, Final) else builder.piece(item)
                if cursor is not None and fault is not None:
                    stall = cursor.stall(index, final)
                    if stall:
                        await asyncio.sleep(stall)
                    if cursor.malformed(index, final):
                        await wire.malformed(chunk)
                    if cursor.error(index, final):
                        if not wire.started:
                            return error_response(
                                plan.flavor, 500, fault.error_message(), in_stream=True
                            )
                        await wire.error_line(fault.error_message())
                        break
                    if cursor.cut(index, final):
                        return await wire.cut(fault.cut_abort)
                await wire.send(chunk, final)
                index += 1
                if final:
                    break
            return await wire.finish()
        except ConnectionError:
            # the client went away; aiohttp notices on its own
            return wire.response or web.Response(status=200)
        finally:
            await _aclose(items)

    async def _once(self, call: Call, plan: _Plan) -> web.StreamResponse:
        builder = ChunkBuilder(plan.params, plan.request, call.t0, plan.t_loaded)
        contents: list[str] = []
        thinkings: list[str] = []
        calls: list[dict[str, Any]] = []
        final: Final | None = None
        try:
            items = self._engine.generate(plan.request)
        except Exception as exc:
            return error_response(plan.flavor, *_engine_failure(exc))
        try:
            async for item in items:
                if isinstance(item, Final):
                    final = item
                    break
                contents.append(item.content)
                thinkings.append(item.thinking)
                calls.extend(item.tool_calls)
        except Exception as exc:
            return error_response(plan.flavor, *_engine_failure(exc))
        finally:
            await _aclose(items)
        if final is None:
            return error_response(plan.flavor, 500, "unexpected response")
        obj = builder.final(final, "".join(contents), "".join(thinkings), calls)
        fault = plan.fault
        if fault is not None and fault.affects_stream:
            if fault.stall_after is not None:
                await asyncio.sleep(fault.stall_s)
            if fault.error_after is not None:
                return error_response(plan.flavor, 500, fault.error_message())
            if fault.cut_after is not None:
                transport = call.request.transport
                if transport is not None:
                    transport.close()
                return web.Response(status=200)
        if plan.flavor is Flavor.OPENAI:
            body = marshal(chat_completion(obj)) + b"\n"
            content_type = JSON_BARE
        else:
            body = marshal(obj)
            content_type = JSON
        if fault is not None and fault.malformed_after is not None:
            body = body[: max(len(body) // 2, 1)]
        return response(200, body, content_type)
