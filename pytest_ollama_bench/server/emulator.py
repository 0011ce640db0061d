"""The Ollama-protocol front: an aiohttp server that speaks Ollama's HTTP API byte for byte.

The front parses and validates requests exactly as Ollama does, times ``load_duration`` and
``total_duration`` itself, formats every NDJSON line (and the OpenAI-compatible SSE events),
and injects :class:`~pytest_ollama_bench.server.faults.Fault` s. Tokens and the engine-side
metrics come from any :class:`~pytest_ollama_bench.server.engine.Engine`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import random
import re
import socket
import time
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from enum import Enum
from types import TracebackType
from typing import Any

from aiohttp import web

from ..names import ModelName
from ..names import parse_model_name
from ._go import MAX_DURATION_NS
from ._go import format_time
from ._go import go_quote
from ._go import marshal
from ._go import parse_time_ns
from ._requests import InferenceParams
from ._requests import RequestError
from ._requests import decode_chat
from ._requests import decode_generate
from ._requests import decode_openai_chat
from ._requests import decode_show
from ._requests import validate_options
from .engine import Engine
from .engine import EngineError
from .engine import Final
from .engine import GenerationRequest
from .engine import ModelCard
from .engine import Piece
from .engine import SupportsUnload
from .faults import Fault
from .faults import FaultCursor

__all__ = ["DEFAULT_VERSION", "LOOPBACK_HOSTS", "OllamaEmulator"]

DEFAULT_VERSION = "0.33.0"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

_JSON = "application/json; charset=utf-8"  # gin's c.JSON
_JSON_BARE = "application/json"  # errors raised inside streamResponse, and every /v1 body
_NDJSON = "application/x-ndjson"
_SSE = "text/event-stream"
_TEXT = "text/plain; charset=utf-8"  # gin's c.String
_GIN_PLAIN = "text/plain"  # gin's own 404/405 pages
_NS_PER_S = 1_000_000_000
_log = logging.getLogger(__name__)
_THINK_LEVELS = ("high", "medium", "low", "max")
_TREE_ORDER = ("HEAD", "GET", "POST", "DELETE")  # gin's method trees, in registration order


class _Flavor(Enum):
    NATIVE = "native"
    OPENAI = "openai"


@dataclass
class _Call:
    """One HTTP request as the handlers see it."""

    request: web.BaseRequest
    seq: int
    t0: int  # perf_counter_ns at handler entry
    body: bytes


@dataclass
class _Plan:
    """A validated inference request, ready to run."""

    params: InferenceParams
    flavor: _Flavor
    card: ModelCard
    request: GenerationRequest
    fault: Fault | None
    t_loaded: int


@dataclass
class _LoadOnly:
    """A load-only request (empty ``messages``/``prompt``) whose model is now loaded."""

    card: ModelCard


Handler = Callable[[_Call], Awaitable[web.StreamResponse]]


def _response(status: int, body: bytes, content_type: str | None) -> web.Response:
    headers = {"Content-Type": content_type} if content_type else None
    return web.Response(status=status, body=body, headers=headers)


def _json(status: int, obj: Any, content_type: str = _JSON) -> web.Response:
    """gin's ``c.JSON``: compact, no trailing newline."""
    return _response(status, marshal(obj), content_type)


def _encoded(status: int, obj: Any) -> web.Response:
    """Go's ``json.NewEncoder(w).Encode`` as the OpenAI middleware uses it: trailing newline."""
    return _response(status, marshal(obj) + b"\n", _JSON_BARE)


def _openai_error(status: int, message: str) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _now() -> str:
    return format_time(time.time_ns(), utc=True)


def _unix_seconds(rfc3339: str) -> int:
    return parse_time_ns(rfc3339) // _NS_PER_S


def _think_truthy(think: bool | str | None) -> bool:
    return think is True or think in _THINK_LEVELS


def _host_kind(header: str) -> str | None:
    """Ollama's ``allowedHostsMiddleware`` on a loopback-bound server.

    ``"ip"`` for loopback/private/unspecified addresses, ``"name"`` for local host names, ``None``
    when the request gets an empty HTTP 403.
    """
    host = header
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        if address.is_loopback or address.is_private or address.is_unspecified:
            return "ip"
        return None
    if host in ("", "localhost") or host == socket.gethostname().lower():
        return "name"
    return "name" if host.endswith((".localhost", ".local", ".internal")) else None


def _stand_in_ids(text: str) -> list[int]:
    return [
        int.from_bytes(word.encode()[:3].ljust(3, b"\0"), "big") % 128_000 + 256
        for word in re.findall(r"\s*\S+", text)
    ]


_PARAM_UNITS = {"K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}


def _parameter_count(parameter_size: str) -> int | None:
    match = re.fullmatch(r"\s*([\d.]+)\s*([KMBT])\s*", parameter_size.upper())
    if match is None:
        return None
    return round(float(match.group(1)) * _PARAM_UNITS[match.group(2)])


class _ChunkBuilder:
    """Builds the native chunks of one response, in Go's field order."""

    def __init__(self, plan: _Plan, t0: int) -> None:
        self._plan = plan
        self._t0 = t0
        self._answer: list[str] = []

    @property
    def _chat(self) -> bool:
        return self._plan.params.endpoint == "chat"

    def _text_fields(self, content: str, thinking: str) -> dict[str, Any]:
        if self._chat:
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if thinking:
                message["thinking"] = thinking
            return {"message": message}
        fields: dict[str, Any] = {"response": content}
        if thinking:
            fields["thinking"] = thinking
        return fields

    def piece(self, piece: Piece) -> dict[str, Any]:
        self._answer.append(piece.content)
        return {
            "model": self._plan.params.model,
            "created_at": _now(),
            **self._text_fields(piece.content, piece.thinking),
            "done": False,
        }

    def final(self, final: Final, content: str = "", thinking: str = "") -> dict[str, Any]:
        total = time.perf_counter_ns() - self._t0
        params = self._plan.params
        chunk: dict[str, Any] = {
            "model": params.model,
            "created_at": _now(),
            **self._text_fields(content, thinking),
            "done": True,
        }
        if final.done_reason:
            chunk["done_reason"] = final.done_reason
        if not self._chat and not params.raw:
            context = final.context
            if context is None:
                request = self._plan.request
                answer = content or "".join(self._answer)
                context = tuple(_stand_in_ids(f"{request.system or ''} {request.prompt}{answer}"))
            if context:
                chunk["context"] = list(context)
        metrics = (
            ("total_duration", total),
            ("load_duration", self._plan.t_loaded - self._t0),
            ("prompt_eval_count", final.prompt_eval_count),
            ("prompt_eval_duration", final.prompt_eval_duration),
            ("eval_count", final.eval_count),
            ("eval_duration", final.eval_duration),
        )
        for key, value in metrics:
            if value:
                chunk[key] = int(value)
        return chunk


class _Wire:
    """Writes one streamed response: headers with the first line, each line drained."""

    content_type = _NDJSON

    def __init__(self, emulator: OllamaEmulator, call: _Call) -> None:
        self._emulator = emulator
        self._call = call
        self.response: web.StreamResponse | None = None
        self._index = 0

    @property
    def started(self) -> bool:
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
        response = self.response or await self._start()
        await response.write(data)
        await self._call.request.writer.drain()
        if self._emulator.record_timings:
            self._emulator.chunk_log.append((self._call.seq, self._index, time.perf_counter_ns()))
        self._index += 1

    async def send(self, chunk: dict[str, Any], final: bool) -> None:
        await self.write(marshal(chunk) + b"\n")

    async def error_line(self, message: str) -> None:
        await self.write(marshal({"error": message}) + b"\n")

    async def malformed(self, chunk: dict[str, Any]) -> None:
        data = marshal(chunk)
        await self.write(data[: max(len(data) // 2, 1)] + b"\n")

    async def finish(self) -> web.StreamResponse:
        return self.response or await self._start()

    async def cut(self, abort: bool) -> web.StreamResponse:
        if not abort:
            return await self.finish()
        transport = self._call.request.transport
        if transport is not None:
            transport.close()  # no terminating chunk: the body is incomplete
        return self.response or web.Response(status=200)


class _SseWire(_Wire):
    """Ollama's ``ChatWriter``: native chat chunks re-encoded as OpenAI SSE events."""

    content_type = _SSE

    def __init__(self, emulator: OllamaEmulator, call: _Call, params: InferenceParams) -> None:
        super().__init__(emulator, call)
        self._id = f"chatcmpl-{random.randrange(999)}"
        self._include_usage = params.include_usage
        self._created: int | None = None
        self._first_sent = False

    def _pin_created(self, created_at: str | None) -> int:
        if self._created is None:
            self._created = _unix_seconds(created_at) if created_at else time.time_ns() // _NS_PER_S
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

    def _deltas(self, content: str, thinking: str) -> list[dict[str, Any]]:
        role = {} if self._first_sent else {"role": "assistant"}
        if thinking and content:
            return [{**role, "reasoning": thinking}, {"content": content}]
        delta: dict[str, Any] = {**role, "content": content}
        if thinking:
            delta["reasoning"] = thinking
        return [delta]

    async def event(self, obj: dict[str, Any]) -> None:
        await self.write(b"data: " + marshal(obj) + b"\n\n")

    async def send(self, chunk: dict[str, Any], final: bool) -> None:
        message = chunk["message"]
        content, thinking = message["content"], message.get("thinking", "")
        created = self._pin_created(chunk["created_at"])
        model = chunk["model"]
        if not (final and self._first_sent and not content and not thinking):
            for delta in self._deltas(content, thinking):
                await self.event(self._chunk(model, created, delta, None))
            self._first_sent = True
        if not final:
            return
        finish = self._chunk(model, created, {}, chunk.get("done_reason") or "stop")
        await self.event(finish)
        if self._include_usage:
            prompt = int(chunk.get("prompt_eval_count", 0))
            completion = int(chunk.get("eval_count", 0))
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            }
            await self.event({**finish, "choices": [], "usage": usage})
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


@dataclass
class _Expiry:
    deadline: float  # time.monotonic(); math.inf = forever
    wall_ns: int  # for /api/ps expires_at


class OllamaEmulator:
    """Ollama's HTTP API on a loopback port, backed by any engine.

    ``requests`` records every request (``{"method", "path", "body"}``, ``body`` = the parsed
    JSON or ``None``); a request's index in it is its ``request_seq``. With ``record_timings``
    each written stream line appends ``(request_seq, line_index, perf_counter_ns)`` to
    ``chunk_log``, taken right after the line was written and drained.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = DEFAULT_VERSION,
        record_timings: bool = False,
        default_keep_alive: float = 300.0,
        close_engine: bool = False,
        shutdown_timeout: float = 2.0,
    ) -> None:
        if host.strip("[]") not in LOOPBACK_HOSTS:
            raise ValueError(
                f"the emulator only binds loopback addresses {LOOPBACK_HOSTS}, not {host!r}"
            )
        self._engine = engine
        self._bind_host = "::1" if host.strip("[]") == "::1" else "127.0.0.1"
        self._requested_port = port
        self.version = version
        self.record_timings = record_timings
        self.default_keep_alive = default_keep_alive
        self._close_engine = close_engine
        self._shutdown_timeout = shutdown_timeout
        self.requests: list[dict[str, Any]] = []
        self.chunk_log: list[tuple[int, int, int]] = []
        self.faults: dict[str, Fault] = {}
        self._expiry: dict[str, _Expiry] = {}  # loaded model -> when keep_alive runs out
        self._runner: web.ServerRunner | None = None
        self._port: int | None = None
        self._routes: dict[str, dict[str, Handler]] = {
            "/": {"GET": self._root, "HEAD": self._root},
            "/api/version": {"GET": self._version, "HEAD": self._version},
            "/api/tags": {"GET": self._tags, "HEAD": self._tags},
            "/api/ps": {"GET": self._ps},
            "/api/show": {"POST": self._show},
            "/api/chat": {"POST": self._chat},
            "/api/generate": {"POST": self._generate},
            "/v1/models": {"GET": self._v1_models},
            "/v1/chat/completions": {"POST": self._v1_chat},
        }

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        """The engine producing the tokens."""
        return self._engine

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    @property
    def port(self) -> int:
        """The bound port (the real one when constructed with ``port=0``)."""
        if self._port is None:
            raise RuntimeError("the emulator is not running")
        return self._port

    @property
    def host(self) -> str:
        """The bound loopback address."""
        return self._bind_host

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        host = f"[{self._bind_host}]" if ":" in self._bind_host else self._bind_host
        return f"http://{host}:{self.port}"

    async def start(self) -> OllamaEmulator:
        """Start listening (idempotent)."""
        if self._runner is not None:
            return self
        server = web.Server(self._dispatch, handler_cancellation=True)
        runner = web.ServerRunner(server, shutdown_timeout=self._shutdown_timeout)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._bind_host, self._requested_port)
            await site.start()
            address = runner.addresses[0]
            self._port = int(address[1])
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return self

    async def stop(self) -> None:
        """Stop listening, finish or cancel in-flight requests (idempotent)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._port = None
        if self._close_engine:
            await self._engine.aclose()

    async def __aenter__(self) -> OllamaEmulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- faults -------------------------------------------------------------------------------

    def set_fault(self, model: str, fault: Fault | None) -> None:
        """Inject ``fault`` into requests for ``model`` (any spelling); ``None`` clears it.

        The fault is copied; ``faults[name].times`` counts down as requests consume it.
        """
        name = parse_model_name(model.strip())
        if name is None:
            raise ValueError(f"invalid model name: {model!r}")
        for existing in [key for key in self.faults if self._same(key, name)]:
            del self.faults[existing]
        if fault is not None:
            self.faults[name.display] = replace(fault)

    @staticmethod
    def _same(text: str, name: ModelName) -> bool:
        parsed = parse_model_name(text)
        return parsed is not None and parsed.key == name.key

    def _take_fault(self, card: ModelCard, generating: bool) -> Fault | None:
        name = parse_model_name(card.name)
        if name is None:
            return None
        for key, fault in list(self.faults.items()):
            if not self._same(key, name):
                continue
            if not generating and fault.status is None:
                return None
            snapshot = replace(fault)
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    del self.faults[key]
            return snapshot
        return None

    # -- dispatch -----------------------------------------------------------------------------

    def _methods(self, path: str) -> dict[str, Handler] | None:
        methods = self._routes.get(path)
        model_param = path[len("/v1/models/") :] if path.startswith("/v1/models/") else ""
        if methods is None and model_param and "/" not in model_param:
            methods = {"GET": self._v1_model}
        return methods

    def _unrouted(self, request: web.BaseRequest, host_kind: str) -> web.StreamResponse:
        """gin's answers when no handler matches: redirect, 204, 405 or 404."""
        path, method = request.path, request.method
        if path != "/" and path.endswith("/") and method != "CONNECT":
            target = self._routes.get(path[:-1])
            if target is not None and method in target:
                # RedirectTrailingSlash: 301 for GET, 307 for everything else
                location = path[:-1] + (f"?{request.query_string}" if request.query_string else "")
                status = 301 if method == "GET" else 307
                headers = {"Location": location}
                body = b""
                if method in ("GET", "HEAD"):
                    headers["Content-Type"] = "text/html; charset=utf-8"
                if method == "GET":
                    body = f'<a href="{location}">Moved Permanently</a>.\n\n'.encode()
                return web.Response(status=status, body=body, headers=headers)
        if method == "OPTIONS" and host_kind == "name":
            return web.Response(status=204)  # allowedHostsMiddleware answers preflights
        methods = self._methods(path) or {}
        allowed = [m for m in _TREE_ORDER if m in methods and m != method]
        if allowed:
            response = _response(405, b"405 method not allowed", _GIN_PLAIN)
            response.headers["Allow"] = ", ".join(allowed)
            return response
        return _response(404, b"404 page not found", _GIN_PLAIN)

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        t0 = time.perf_counter_ns()
        body = await request.content.read()  # no size limit, like Ollama
        try:
            parsed: Any = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
        seq = len(self.requests)
        self.requests.append({"method": request.method, "path": request.path, "body": parsed})
        host_kind = _host_kind(request.headers.get("Host", ""))
        if host_kind is None:
            return web.Response(status=403)
        methods = self._methods(request.path)
        handler = methods.get(request.method) if methods is not None else None
        if handler is None:
            return self._unrouted(request, host_kind)
        return await handler(_Call(request=request, seq=seq, t0=t0, body=body))

    # -- simple endpoints ---------------------------------------------------------------------

    async def _root(self, call: _Call) -> web.StreamResponse:
        return _response(200, b"Ollama is running", _TEXT)

    async def _version(self, call: _Call) -> web.StreamResponse:
        return _json(200, {"version": self.version})

    @staticmethod
    def _details(card: ModelCard, *, context_length: bool) -> dict[str, Any]:
        details: dict[str, Any] = {
            "parent_model": "",
            "format": card.format,
            "family": card.family,
            "families": [card.family],
            "parameter_size": card.parameter_size,
            "quantization_level": card.quantization_level,
        }
        if context_length and card.context_length:
            details["context_length"] = card.context_length
        return details

    def _sorted_cards(self) -> list[ModelCard]:
        cards = self._engine.cards()
        return sorted(cards, key=lambda card: _unix_seconds(card.modified_at), reverse=True)

    async def _tags(self, call: _Call) -> web.StreamResponse:
        models = []
        for card in self._sorted_cards():
            entry: dict[str, Any] = {
                "name": card.name,
                "model": card.name,
                "modified_at": card.modified_at,
                "size": card.size,
                "digest": card.digest,
                "details": self._details(card, context_length=True),
            }
            if card.capabilities:
                entry["capabilities"] = list(card.capabilities)
            models.append(entry)
        return _json(200, {"models": models})

    async def _ps(self, call: _Call) -> web.StreamResponse:
        cards = {card.name: card for card in self._engine.cards()}
        rows: list[tuple[int, dict[str, Any]]] = []
        for name in list(self._engine.loaded()):
            card = cards.get(name)
            if card is None or await self._expire_if_due(name):
                continue
            expiry = self._expiry.get(name)
            wall_ns = (
                expiry.wall_ns
                if expiry is not None
                else time.time_ns() + int(self.default_keep_alive * _NS_PER_S)
            )
            rows.append(
                (
                    wall_ns // _NS_PER_S,
                    {
                        "name": card.name,
                        "model": card.name,
                        "size": card.size,
                        "digest": card.digest,
                        "details": self._details(card, context_length=False),
                        "expires_at": format_time(wall_ns, utc=False),
                        "size_vram": card.size if card.vram_bytes is None else card.vram_bytes,
                        "context_length": card.context_length,
                    },
                )
            )
        rows.sort(key=lambda row: row[0], reverse=True)
        return _json(200, {"models": [row[1] for row in rows]})

    def _find(self, name: ModelName) -> ModelCard | None:
        for card in self._engine.cards():
            parsed = parse_model_name(card.name)
            if parsed is not None and parsed.key == name.key:
                return card
        return None

    def _canonical(self, name: ModelName) -> ModelName:
        """``getExistingName``: each part takes the spelling of an installed name's part."""
        parts = {"host": name.host, "namespace": name.namespace, "model": name.model}
        parts["tag"] = name.tag
        for card in self._engine.cards():
            installed = parse_model_name(card.name)
            if installed is None:
                continue
            for attr in ("host", "namespace", "model", "tag"):
                if getattr(installed, attr).lower() == parts[attr].lower():
                    parts[attr] = getattr(installed, attr)
        return ModelName(**parts)

    def _show_body(self, card: ModelCard) -> dict[str, Any]:
        stop = '"<|eot_id|>"'
        info: dict[str, Any] = {"general.architecture": card.family}
        count = _parameter_count(card.parameter_size)
        if count is not None:
            info["general.parameter_count"] = count
        info["general.quantization_version"] = 2
        info[f"{card.family}.context_length"] = card.context_length
        modelfile = (
            '# Modelfile generated by "ollama show"\n'
            "# To build a new Modelfile based on this, replace FROM with:\n"
            f"# FROM {card.name}\n\n"
            f"FROM /root/.ollama/models/blobs/sha256-{card.digest}\n"
            'TEMPLATE """{{ .Prompt }}"""\n'
            f"PARAMETER stop {stop}\n"
        )
        return {
            "modelfile": modelfile,
            "parameters": f"{'stop':<30} {stop}",
            "template": "{{ .Prompt }}",
            "details": self._details(card, context_length=False),
            "model_info": info,
            "capabilities": list(card.capabilities),
            "modified_at": card.modified_at,
        }

    def _show_lookup(self, requested: str) -> ModelCard:
        name = parse_model_name(requested.strip())
        if name is None:
            raise RequestError(400, "invalid model name")
        card = self._find(name)
        if card is None:
            raise RequestError(404, f"model '{self._canonical(name).display}' not found")
        return card

    async def _show(self, call: _Call) -> web.StreamResponse:
        try:
            card = self._show_lookup(decode_show(call.body))
        except RequestError as exc:
            return _json(exc.status, {"error": exc.message})
        return _json(200, self._show_body(card))

    async def _v1_models(self, call: _Call) -> web.StreamResponse:
        data = []
        for card in self._sorted_cards():
            parsed = parse_model_name(card.name)
            data.append(
                {
                    "id": card.name,
                    "object": "model",
                    "created": _unix_seconds(card.modified_at),
                    "owned_by": parsed.namespace if parsed is not None else "",
                }
            )
        # Go encodes the nil slice of an empty list as null
        return _encoded(200, {"object": "list", "data": data or None})

    async def _v1_model(self, call: _Call) -> web.StreamResponse:
        requested = call.request.path[len("/v1/models/") :]
        try:
            card = self._show_lookup(requested)
        except RequestError as exc:
            return _encoded(exc.status, _openai_error(exc.status, exc.message))
        parsed = parse_model_name(requested)
        return _encoded(
            200,
            {
                "id": requested,
                "object": "model",
                "created": _unix_seconds(card.modified_at),
                "owned_by": parsed.namespace if parsed is not None else "",
            },
        )

    # -- inference ----------------------------------------------------------------------------

    async def _chat(self, call: _Call) -> web.StreamResponse:
        try:
            params = decode_chat(call.body)
        except RequestError as exc:
            return self._error(_Flavor.NATIVE, exc.status, exc.message)
        return await self._inference(call, params, _Flavor.NATIVE)

    async def _generate(self, call: _Call) -> web.StreamResponse:
        try:
            params = decode_generate(call.body)
        except RequestError as exc:
            return self._error(_Flavor.NATIVE, exc.status, exc.message)
        return await self._inference(call, params, _Flavor.NATIVE)

    async def _v1_chat(self, call: _Call) -> web.StreamResponse:
        try:
            params = decode_openai_chat(call.body)
        except RequestError as exc:
            return self._error(_Flavor.OPENAI, exc.status, exc.message)
        return await self._inference(call, params, _Flavor.OPENAI)

    @staticmethod
    def _error(
        flavor: _Flavor, status: int, message: str, *, in_stream: bool = False
    ) -> web.Response:
        if flavor is _Flavor.OPENAI:
            return _encoded(status, _openai_error(status, message))
        return _json(status, {"error": message}, _JSON_BARE if in_stream else _JSON)

    async def _inference(
        self, call: _Call, params: InferenceParams, flavor: _Flavor
    ) -> web.StreamResponse:
        loaded: str | None = None
        try:
            outcome = await self._prepare(call, params, flavor)
            if isinstance(outcome, web.StreamResponse):
                return outcome
            loaded = outcome.card.name
            if isinstance(outcome, _LoadOnly):
                return _json(200, self._status_object(params, "load"))
            if params.stream:
                return await self._stream(call, outcome)
            return await self._once(call, outcome)
        except RequestError as exc:
            return self._error(flavor, exc.status, exc.message)
        finally:
            if loaded is not None:
                await self._touch(loaded, params.keep_alive_ns)

    @staticmethod
    def _status_object(params: InferenceParams, reason: str) -> dict[str, Any]:
        if params.endpoint == "chat":
            text: dict[str, Any] = {"message": {"role": "assistant", "content": ""}}
        else:
            text = {"response": ""}
        return {
            "model": params.model,
            "created_at": _now(),
            **text,
            "done": True,
            "done_reason": reason,
        }

    async def _prepare(
        self, call: _Call, params: InferenceParams, flavor: _Flavor
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
        card = self._find(name)
        if card is None:
            raise RequestError(404, f"model '{requested}' not found")
        full_name = self._canonical(name).full

        empty = not params.messages if chat else params.prompt == ""
        if empty and params.keep_alive_ns == 0:
            await self._unload(card.name)
            return _json(200, self._status_object(params, "unload"))
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

        fault = self._take_fault(card, generating=not empty)
        if fault is not None and fault.status is not None:
            raise RequestError(fault.status, fault.status_message(requested))

        await self._expire_if_due(card.name)
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
        )
        return _Plan(
            params=params,
            flavor=flavor,
            card=card,
            request=request,
            fault=fault,
            t_loaded=t_loaded,
        )

    async def _stream(self, call: _Call, plan: _Plan) -> web.StreamResponse:
        wire = (
            _SseWire(self, call, plan.params)
            if plan.flavor is _Flavor.OPENAI
            else _Wire(self, call)
        )
        fault = plan.fault
        cursor = FaultCursor(fault) if fault is not None and fault.affects_stream else None
        builder = _ChunkBuilder(plan, call.t0)
        try:
            items = self._engine.generate(plan.request)
        except Exception as exc:
            status, message = _engine_failure(exc)
            return self._error(plan.flavor, status, message, in_stream=True)
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
                        return self._error(plan.flavor, status, message, in_stream=True)
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
                            return self._error(
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

    async def _once(self, call: _Call, plan: _Plan) -> web.StreamResponse:
        builder = _ChunkBuilder(plan, call.t0)
        contents: list[str] = []
        thinkings: list[str] = []
        final: Final | None = None
        try:
            items = self._engine.generate(plan.request)
        except Exception as exc:
            return self._error(plan.flavor, *_engine_failure(exc))
        try:
            async for item in items:
                if isinstance(item, Final):
                    final = item
                    break
                contents.append(item.content)
                thinkings.append(item.thinking)
        except Exception as exc:
            return self._error(plan.flavor, *_engine_failure(exc))
        finally:
            await _aclose(items)
        if final is None:
            return self._error(plan.flavor, 500, "unexpected response")
        obj = builder.final(final, "".join(contents), "".join(thinkings))
        fault = plan.fault
        if fault is not None and fault.affects_stream:
            if fault.stall_after is not None:
                await asyncio.sleep(fault.stall_s)
            if fault.error_after is not None:
                return self._error(plan.flavor, 500, fault.error_message())
            if fault.cut_after is not None:
                transport = call.request.transport
                if transport is not None:
                    transport.close()
                return web.Response(status=200)
        if plan.flavor is _Flavor.OPENAI:
            body = marshal(self._completion(obj)) + b"\n"
            content_type = _JSON_BARE
        else:
            body = marshal(obj)
            content_type = _JSON
        if fault is not None and fault.malformed_after is not None:
            body = body[: max(len(body) // 2, 1)]
        return _response(200, body, content_type)

    @staticmethod
    def _completion(chunk: dict[str, Any]) -> dict[str, Any]:
        """``openai.ToChatCompletion`` of the final native chat object."""
        message: dict[str, Any] = {"role": "assistant", "content": chunk["message"]["content"]}
        if chunk["message"].get("thinking"):
            message["reasoning"] = chunk["message"]["thinking"]
        prompt = int(chunk.get("prompt_eval_count", 0))
        completion = int(chunk.get("eval_count", 0))
        return {
            "id": f"chatcmpl-{random.randrange(999)}",
            "object": "chat.completion",
            "created": _unix_seconds(chunk["created_at"]),
            "model": chunk["model"],
            "system_fingerprint": "fp_ollama",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": chunk.get("done_reason") or None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
            },
        }

    # -- keep_alive ---------------------------------------------------------------------------

    async def _unload(self, name: str) -> None:
        self._expiry.pop(name, None)
        if isinstance(self._engine, SupportsUnload):
            await self._engine.unload(name)

    async def _expire_if_due(self, name: str) -> bool:
        expiry = self._expiry.get(name)
        if expiry is not None and time.monotonic() >= expiry.deadline:
            await self._unload(name)
            return True
        return False

    async def _touch(self, name: str, keep_alive_ns: int | None) -> None:
        if keep_alive_ns is None:
            keep_alive_ns = int(self.default_keep_alive * _NS_PER_S)
        if keep_alive_ns == 0:
            await self._unload(name)
            return
        if name not in self._engine.loaded():
            return
        if keep_alive_ns >= MAX_DURATION_NS:
            self._expiry[name] = _Expiry(math.inf, time.time_ns() + MAX_DURATION_NS)
        else:
            self._expiry[name] = _Expiry(
                time.monotonic() + keep_alive_ns / _NS_PER_S, time.time_ns() + keep_alive_ns
            )
