"""An aiohttp client for OpenAI-compatible servers (``/v1/chat/completions``), timed per chunk.

:class:`OpenAIClient` has the same contract as :class:`~pytest_ollama_bench.client.OllamaClient`
(same methods, same exceptions, same :class:`Measurement`), so the plugin can drive Ollama's
OpenAI-compatible layer, llama.cpp's ``llama-server`` or vLLM with one switch
(``--ollama-api openai``). Request fields and the final record are mapped by
:mod:`pytest_ollama_bench.openai_fields`. No pytest here.

Differences from the native API, all the server's doing:

* The stream is Server-Sent Events (:mod:`pytest_ollama_bench.sse`): ``data: {chunk}``
  events ended by ``data: [DONE]``. A stream that ends without ``[DONE]`` still counts as
  complete when a choice already carried a ``finish_reason`` (servers that leave out the
  terminator); otherwise it raises :class:`~pytest_ollama_bench.errors.IncompleteStreamError`.
  That is also all a client sees when a model fails mid-stream on Ollama's ``/v1``: it turns
  the error into an empty chunk and stops.
* Ollama's ``/v1`` exposes token counts (``usage``) but no durations, so ``tokens_per_s``,
  ``eval_ms`` and ``prompt_eval_ms`` stay None there (``client_tokens_per_s``, from the
  client's clock, is there). llama.cpp adds a ``timings`` object, which gives them. Load and
  total server durations are never exposed.
* Tool calls stream in pieces (``delta.tool_calls`` with ``arguments`` as text fragments);
  the measurement keeps them joined, in Ollama's shape.
* Ollama's ``/v1`` defaults ``temperature`` and ``top_p`` to 1.0 when the request omits them
  (the native API uses the model's defaults), so pass them explicitly to compare the two APIs.

>>> async with OpenAIClient("127.0.0.1:11434") as client:       # doctest: +SKIP
...     m = await client.chat("llama3.2", [{"role": "user", "content": "Hi"}])
...     print(m.ttft_ms, m.eval_count, m.text)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import orjson

from .api_fields import check_fields
from .errors import ServerError
from .errors import StreamError
from .hosts import redact_host
from .http import HTTPClient
from .http import cut_off
from .http import error_info
from .http import is_connect_timeout
from .measure import Recorder
from .models import Endpoint
from .models import Measurement
from .models import ModelDetails
from .openai_fields import OPTION_FIELDS
from .openai_fields import StreamState
from .openai_fields import ToolCallAssembler
from .openai_fields import as_int
from .openai_fields import final_record
from .openai_fields import message_pieces
from .openai_fields import openai_message
from .openai_fields import request_fields
from .reading import MAX_LINE_BYTES
from .reading import BrokenStream
from .reading import LineTooLong
from .reading import RecordDeadline
from .sse import SSEEvent
from .sse import SSEParser

if TYPE_CHECKING:
    import aiohttp

__all__ = ["OPTION_FIELDS", "OpenAIClient", "final_record", "request_fields"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

_CHAT_PATH = "/v1/chat/completions"
_MODELS_PATH = "/v1/models"
_DONE = b"[DONE]"
_NOT_FOUND_TYPES = frozenset({"not_found_error", "notfounderror", "model_not_found"})
_OWN = ("options", "stream", "warmup")


# --------------------------------------------------------------------------- client


class OpenAIClient(HTTPClient):
    """One aiohttp session to one OpenAI-compatible server; ``async with`` or :meth:`aclose`.

    :param host: base URL or ``OLLAMA_HOST``-style value (a trailing ``/v1`` is dropped);
        None reads ``$OLLAMA_HOST``.
    :param timeout: seconds allowed for each whole record (event): the first from sending the
        request, each next one from the one before.
    :param connect_timeout: seconds allowed to open the connection.
    :param api_key: sent as ``Authorization: Bearer``; None reads ``$PYTEST_OLLAMA_API_KEY``,
        else ``$OPENAI_API_KEY``, else ``"ollama"`` (local servers ignore it; SDKs insist on
        one). ``""`` sends no header. Credentials in ``host`` are sent as HTTP Basic
        authentication instead (with an API key too, :class:`~.hosts.HostError`).
    :param headers: extra request headers (they win over the ``Authorization`` above).
    """

    api = "openai"

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        super().__init__(
            host,
            timeout=timeout,
            connect_timeout=connect_timeout,
            headers=headers,
            api_key=api_key,
            max_line_bytes=max_line_bytes,
        )
        if self.host.endswith("/v1"):
            self.host = self.host[: -len("/v1")]
            self.display_host = redact_host(self.host)

    async def version(self) -> str:
        """The server's version: Ollama's ``/api/version``, else ``/version`` (vLLM), else ""."""
        for path in ("/api/version", "/version"):
            try:
                data = await self._request_json("GET", path)
            except ServerError:
                continue
            if isinstance(data, dict) and isinstance(data.get("version"), str):
                return str(data["version"])
        return ""

    async def installed_models(self) -> list[ModelDetails]:
        """The models ``GET /v1/models`` lists (``data[].id``); llama.cpp also gives sizes.

        :raises MalformedResponseError: for a body without a ``data`` list.
        """
        data = await self._request_json("GET", _MODELS_PATH)
        entries = data.get("data") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise self._malformed(
                json.dumps(data).encode(),
                _MODELS_PATH,
                method="GET",
                expected="a JSON object with a 'data' list",
            )
        models: list[ModelDetails] = []
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            meta = entry.get("meta")
            size = as_int(meta.get("size")) if isinstance(meta, dict) else None
            models.append(ModelDetails(name=entry["id"], size=size))
        return models

    # ----------------------------------------------------------------- generation

    async def chat(
        self,
        model: str,
        messages: Sequence[Mapping[str, Any]],
        *,
        options: Mapping[str, Any] | None = None,
        stream: bool = True,
        warmup: bool = False,
        **fields: Any,
    ) -> Measurement:
        """``POST /v1/chat/completions``, streamed and timed; returns the :class:`Measurement`.

        ``options`` and the Ollama request ``fields`` (``tools``, ``format``, ``think``,
        ``logprobs``, ...) map as :func:`request_fields` says; ``keep_alive`` has no OpenAI
        counterpart and is dropped; messages' ``images`` become image content parts.

        :raises TypeError: a keyword that is no ``/api/chat`` request field.
        :raises ValueError: a field with no OpenAI counterpart (``truncate``, ``shift``).
        :raises EmptyReplyError: the reply generated nothing.
        """
        extra = check_fields("chat", fields, call="OpenAIClient.chat()", own=_OWN)
        sent = [openai_message(m) for m in messages]
        payload = self._payload(model, sent, options, stream, extra)
        return await self._generation("chat", payload, warmup=warmup)

    async def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        options: Mapping[str, Any] | None = None,
        stream: bool = True,
        warmup: bool = False,
        **fields: Any,
    ) -> Measurement:
        """``prompt`` (after ``system``, if given) sent as a chat; recorded as ``generate``.

        The chat template always applies: ``raw=True``, ``suffix``, ``template`` and
        ``context`` have no counterpart and raise :class:`ValueError`; ``images`` go with the
        prompt as image content parts.

        :raises TypeError: a keyword that is no ``/api/generate`` request field.
        """
        extra = check_fields("generate", fields, call="OpenAIClient.generate()", own=_OWN)
        messages: list[dict[str, Any]] = []
        if system is not None:
            messages.append({"role": "system", "content": system})
        user: dict[str, Any] = {"role": "user", "content": prompt}
        if extra.get("images"):
            user["images"] = list(extra["images"])
        messages.append(openai_message(user))
        payload = self._payload(model, messages, options, stream, extra)
        return await self._generation("generate", payload, warmup=warmup)

    async def unload(self, model: str) -> None:
        """Not possible here: an OpenAI-compatible API has no way to unload a model.

        :raises ValueError: always.
        """
        raise ValueError(
            f"cannot unload {model!r} through an OpenAI-compatible API: a cold start needs "
            "Ollama's native API (--ollama-api native)"
        )

    @staticmethod
    def _payload(
        model: str,
        messages: list[dict[str, Any]],
        options: Mapping[str, Any] | None,
        stream: bool,
        fields: Mapping[str, Any],
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
        if stream:
            payload["stream_options"] = {"include_usage": True}
        payload.update(request_fields(options, **fields))
        return payload

    async def _generation(
        self, endpoint: Endpoint, payload: dict[str, Any], *, warmup: bool
    ) -> Measurement:
        """Send ``payload`` and time the answer.

        A request whose connection is closed or reset before any response arrives (not one
        that is refused) is sent once more, with a fresh timer: llama.cpp's server advertises
        ``Keep-Alive`` but closes the connection after each stream, so the next request may
        go out on a pooled socket the server is closing.
        """
        import aiohttp

        model = str(payload["model"])
        stream = bool(payload["stream"])
        session = self._get_session()
        path = _CHAT_PATH
        clock = time.perf_counter_ns
        for attempt in (1, 2):
            rec = Recorder(
                model=model, endpoint=endpoint, api="openai", stream=stream, warmup=warmup
            )
            answered = False
            rec.sent(clock())
            try:
                async with (
                    RecordDeadline(self.timeout) as deadline,
                    session.post(self._url(path), json=payload, allow_redirects=False) as resp,
                ):
                    answered = True
                    rec.headers(clock())
                    self._check_redirect(resp, "POST", path)
                    deadline.watch(cut_off(resp))
                    if resp.status >= 400:
                        body = await resp.read()
                        raise self._http_error(resp.status, body, "POST", path, model)
                    if stream and resp.content_type != "application/json":
                        last, number = await self._consume(resp, rec, path, deadline)
                    else:  # stream=False, or a server that ignored "stream": true
                        last, number = await resp.read(), 1
                        t = clock()
                        rec.add_bytes(len(last))
                        self._record_body(last, t, rec, path)
                measurement = self._measured(rec, path, last, number)
                self._check_output(path, rec, measurement.done_reason)
                return measurement
            except BrokenStream as exc:
                raise self._broken(exc, path, rec) from exc
            except asyncio.TimeoutError as exc:
                if is_connect_timeout(exc):
                    raise self._unreachable(exc, path) from exc
                phase = "next chunk" if rec.chunks else "first chunk"
                raise self._timeout(phase, path, rec) from exc
            except aiohttp.ClientPayloadError as exc:
                raise self._incomplete(path, rec, "closed", f"mid-body: {exc}") from exc
            except aiohttp.ClientConnectorError as exc:
                raise self._unreachable(exc, path) from exc
            except (aiohttp.ClientConnectionError, OSError) as exc:
                if not answered and attempt == 1:
                    continue  # most likely a kept-alive connection the server had closed
                if answered or isinstance(exc, aiohttp.ServerDisconnectedError):
                    detail = str(exc) or type(exc).__name__
                    raise self._incomplete(path, rec, "closed", detail) from exc
                raise self._unreachable(exc, path) from exc
            except aiohttp.ClientError as exc:
                raise self._protocol(exc, path) from exc
            except LineTooLong as exc:
                raise self._too_large(exc, path, rec) from None
        raise AssertionError("the second attempt always returns or raises")

    async def _consume(
        self, resp: aiohttp.ClientResponse, rec: Recorder, path: str, deadline: RecordDeadline
    ) -> tuple[bytes, int]:
        """Read the event stream into ``rec``; returns the last event's data and number."""
        parser = SSEParser(limit=self.max_line_bytes)
        state = StreamState()
        clock = time.perf_counter_ns
        async for data in resp.content.iter_any():
            t = clock()
            rec.add_bytes(len(data))
            events = parser.feed(data)
            if not events:
                continue
            deadline.renew()
            for event in events:
                if self._record_event(event, t, rec, state, path):
                    return self._done(t, rec, state, path, event)
        t = clock()
        for event in parser.flush():
            if self._record_event(event, t, rec, state, path):
                return self._done(t, rec, state, path, event)
        if state.finish_reason is not None:  # the server left out the [DONE] terminator
            return self._done(t, rec, state, path, None)
        raise self._incomplete(path, rec, "ended" if state.events else "no_events")

    def _done(
        self, t: int, rec: Recorder, state: StreamState, path: str, event: SSEEvent | None
    ) -> tuple[bytes, int]:
        data = state.last if event is None else event.data
        try:
            rec.done(t, state.final(rec))
        except ValueError as exc:
            raise self._malformed(
                state.last, path, part="event", number=state.events, problem=str(exc)
            ) from None
        return data, state.events

    def _record_event(
        self, event: SSEEvent, t: int, rec: Recorder, state: StreamState, path: str
    ) -> bool:
        """Feed one event to the recorder; True at ``data: [DONE]``."""
        state.events += 1
        if event.data.strip() == _DONE:
            return True
        for obj in self._decode(event, state.events, path):
            if obj.get("error") is not None or event.event == "error":
                raise self._event_error(obj, rec, path)
            state.record(obj, t, rec)
            if "usage" in obj or "timings" in obj:
                state.last = event.data
        return False

    def _decode(self, event: SSEEvent, number: int, path: str) -> list[dict[str, Any]]:
        """The JSON object(s) of an event's data.

        Data that is not one JSON value but whose lines each are (a server that wrote several
        ``data:`` lines without blank lines between them) counts as one object per line.
        """
        try:
            obj = orjson.loads(event.data)
        except ValueError:
            obj = None
            if b"\n" in event.data:
                try:
                    objs = [orjson.loads(line) for line in event.data.split(b"\n") if line.strip()]
                except ValueError:
                    objs = []
                if objs and all(isinstance(o, dict) for o in objs):
                    return objs
        if not isinstance(obj, dict):
            raise self._malformed(event.data, path, part="event", number=number)
        return [obj]

    def _record_body(self, body: bytes, t: int, rec: Recorder, path: str) -> None:
        """Record a whole (non-streamed) chat completion."""
        try:
            obj = orjson.loads(body)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            raise self._malformed(body, path, method="POST", expected="a JSON object")
        if obj.get("error") is not None:
            raise self._event_error(obj, rec, path)
        choices = obj.get("choices")
        if not (isinstance(choices, list) and choices and isinstance(choices[0], dict)):
            raise self._malformed(
                body, path, method="POST", expected="a JSON object with a 'choices' list"
            )
        choice = choices[0]
        message = choice.get("message")
        content, thinking, calls = message_pieces(message if isinstance(message, dict) else {})
        rec.chunk(t, content, thinking, calls)
        if calls:
            tools = ToolCallAssembler()
            tools.add(calls)
            rec.replace_tool_calls(tools.calls())
        reason = choice.get("finish_reason")
        usage = obj.get("usage")
        timings = obj.get("timings")
        try:
            final = final_record(
                reason if isinstance(reason, str) else None,
                usage if isinstance(usage, dict) else None,
                timings if isinstance(timings, dict) else None,
            )
        except ValueError as exc:
            raise self._malformed(body, path, method="POST", problem=str(exc)) from None
        rec.done(t, final)

    # ----------------------------------------------------------------- error builders

    def _model_missing(self, status: int, error: str, error_type: str, is_json: bool) -> bool:
        lowered = error.lower()
        return (
            status == 404
            and is_json
            and (
                error_type.lower() in _NOT_FOUND_TYPES
                or "not found" in lowered
                or "does not exist" in lowered
            )
        )

    def _event_error(self, obj: Mapping[str, Any], rec: Recorder, path: str) -> StreamError:
        """The error an ``{"error": ...}`` object (or ``event: error``) in the answer carries."""
        error, _, _ = error_info(json.dumps(obj).encode())
        return self._stream_error(error, path, rec)
