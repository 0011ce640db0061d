"""The Ollama-protocol front: an aiohttp server that speaks Ollama's HTTP API byte for byte.

The front parses and validates requests exactly as Ollama does, times ``load_duration`` and
``total_duration`` itself, formats every NDJSON line (and the OpenAI-compatible SSE events),
and injects :class:`~pytest_ollama_bench.server.faults.Fault` s. Tokens and the engine-side
metrics come from any :class:`~pytest_ollama_bench.server.engine.Engine`.

This module holds the server's state, lifecycle and dispatch; the work is done by
``routing`` (which handler, gin's fallbacks), ``catalog`` (model lookup and listing bodies),
``inference`` (chat and generate), ``wire`` (NDJSON and SSE writers), ``keepalive`` and
``faults``.
"""

from __future__ import annotations

import json
import time
from types import TracebackType
from typing import Any

from aiohttp import web

from ._requests import RequestError
from ._requests import decode_show
from .catalog import lookup
from .catalog import ps_body
from .catalog import show_body
from .catalog import tags_body
from .catalog import v1_model_body
from .catalog import v1_models_body
from .engine import Engine
from .engine import ModelCard
from .faults import Fault
from .faults import put_fault
from .faults import take_fault
from .inference import Inference
from .keepalive import KeepAlive
from .responses import TEXT
from .responses import Call
from .responses import encoded
from .responses import json_response
from .responses import openai_error
from .responses import response
from .routing import Router
from .routing import host_kind
from .slots import SlotPool
from .slots import SlotRecord

__all__ = ["DEFAULT_VERSION", "LOOPBACK_HOSTS", "OllamaEmulator"]

DEFAULT_VERSION = "0.33.0"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


class OllamaEmulator:
    """Ollama's HTTP API on a loopback port, backed by any engine.

    ``requests`` records every request (``{"method", "path", "body"}``, ``body`` = the parsed
    JSON or ``None``); a request's index in it is its ``request_seq``. With ``record_timings``
    each written stream line appends ``(request_seq, line_index, perf_counter_ns)`` to
    ``chunk_log``, taken right after the line was written and drained.

    Concurrency is Ollama's, per model, for engines that declare slot limits
    (:class:`~.engine.SupportsSlots`: the simulated and llama.cpp engines): ``parallel``
    requests run at once, up to ``max_queue`` more wait (the wait shows in ``total_duration``,
    not ``load_duration``), beyond that HTTP 503 (``slots.py``). ``slot_log`` has a
    :class:`~.slots.SlotRecord` per request that asked for a slot; ``max_in_flight`` the most
    requests each model ran at once.
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
        self._close_engine = close_engine
        self._shutdown_timeout = shutdown_timeout
        self.requests: list[dict[str, Any]] = []
        self.chunk_log: list[tuple[int, int, int]] = []
        self.faults: dict[str, Fault] = {}
        self._keep_alive = KeepAlive(engine, default_keep_alive)
        self._runner: web.ServerRunner | None = None
        self._port: int | None = None
        self._slots = SlotPool(engine)
        inference = Inference(
            engine, self._keep_alive, self._take_fault, self._log_line, self._slots
        )
        self._router = Router(
            {
                "/": {"GET": self._root, "HEAD": self._root},
                "/api/version": {"GET": self._version, "HEAD": self._version},
                "/api/tags": {"GET": self._tags, "HEAD": self._tags},
                "/api/ps": {"GET": self._ps},
                "/api/show": {"POST": self._show},
                "/api/chat": {"POST": inference.chat},
                "/api/generate": {"POST": inference.generate},
                "/v1/models": {"GET": self._v1_models},
                "/v1/chat/completions": {"POST": inference.v1_chat},
            },
            model_route=self._v1_model,
        )

    @property
    def default_keep_alive(self) -> float:
        """Seconds a model stays loaded after a request without ``keep_alive``."""
        return self._keep_alive.default_s

    @default_keep_alive.setter
    def default_keep_alive(self, seconds: float) -> None:
        self._keep_alive.default_s = seconds

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

    # -- slots --------------------------------------------------------------------------------

    @property
    def slots(self) -> SlotPool:
        """Every model's parallel slots and wait queue (``in_flight(model)``, ``waiting(model)``,
        ``reset()``...)."""
        return self._slots

    @property
    def slot_log(self) -> list[SlotRecord]:
        """A :class:`~.slots.SlotRecord` per inference request that asked for a slot:
        ``seq``, ``model``, ``queued_ns``, ``started_ns``, ``ended_ns``, ``slot``, ``outcome``
        (``perf_counter_ns`` times, the clock of ``chunk_log``)."""
        return self._slots.log

    @property
    def max_in_flight(self) -> dict[str, int]:
        """Installed model name -> the most of its requests that held a slot at once."""
        return self._slots.max_in_flight

    # -- faults and timings ------------------------------------------------------------------

    def set_fault(self, model: str, fault: Fault | None) -> None:
        """Inject ``fault`` into requests for ``model`` (any spelling); ``None`` clears it.

        The fault is copied; ``faults[name].times`` counts down as requests consume it.
        """
        put_fault(self.faults, model, fault)

    def _take_fault(self, card: ModelCard, generating: bool) -> Fault | None:
        return take_fault(self.faults, card.name, generating)

    def _log_line(self, seq: int, index: int) -> None:
        if self.record_timings:
            self.chunk_log.append((seq, index, time.perf_counter_ns()))

    # -- dispatch -----------------------------------------------------------------------------

    async def _dispatch(self, request: web.BaseRequest) -> web.StreamResponse:
        t0 = time.perf_counter_ns()
        body = await request.content.read()  # no size limit, like Ollama
        try:
            parsed: Any = json.loads(body) if body.strip() else None
        except ValueError:
            parsed = None
        seq = len(self.requests)
        self.requests.append({"method": request.method, "path": request.path, "body": parsed})
        kind = host_kind(request.headers.get("Host", ""))
        if kind is None:
            return web.Response(status=403)
        handler = self._router.handler(request.path, request.method)
        if handler is None:
            return self._router.unrouted(request, kind)
        return await handler(Call(request=request, seq=seq, t0=t0, body=body))

    # -- model endpoints ----------------------------------------------------------------------

    async def _root(self, call: Call) -> web.StreamResponse:
        return response(200, b"Ollama is running", TEXT)

    async def _version(self, call: Call) -> web.StreamResponse:
        return json_response(200, {"version": self.version})

    async def _tags(self, call: Call) -> web.StreamResponse:
        return json_response(200, tags_body(self._engine))

    async def _ps(self, call: Call) -> web.StreamResponse:
        cards = {card.name: card for card in self._engine.cards()}
        loaded: list[tuple[ModelCard, int]] = []
        for name in list(self._engine.loaded()):
            card = cards.get(name)
            if card is None or await self._keep_alive.expire_if_due(name):
                continue
            loaded.append((card, self._keep_alive.expires_wall_ns(name)))
        return json_response(200, ps_body(loaded))

    async def _show(self, call: Call) -> web.StreamResponse:
        try:
            card = lookup(self._engine, decode_show(call.body))
        except RequestError as exc:
            return json_response(exc.status, {"error": exc.message})
        return json_response(200, show_body(card))

    async def _v1_models(self, call: Call) -> web.StreamResponse:
        return encoded(200, v1_models_body(self._engine))

    async def _v1_model(self, call: Call) -> web.StreamResponse:
        requested = call.request.path[len("/v1/models/") :]
        try:
            card = lookup(self._engine, requested)
        except RequestError as exc:
            return encoded(exc.status, openai_error(exc.status, exc.message))
        return encoded(200, v1_model_body(card, requested))
