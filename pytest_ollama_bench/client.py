"""An aiohttp client for Ollama's native HTTP API that times every streamed chunk.

No pytest here: the fixture, the benchmarks and users' own scripts share this client. Failures
raise the structured errors of :mod:`pytest_ollama_bench.errors` (``api="native"``).

>>> async with OllamaClient("127.0.0.1:11434") as client:       # doctest: +SKIP
...     m = await client.chat("llama3.2", [{"role": "user", "content": "Hi"}])
...     print(m.ttft_ms, m.tokens_per_s, m.text)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import orjson

from .api_fields import check_fields
from .availability import parse_tags
from .http import HTTPClient
from .http import cut_off
from .http import is_connect_timeout
from .measure import Recorder
from .models import Endpoint
from .models import Measurement
from .models import ModelDetails
from .names import normalize_model_name
from .reading import BrokenStream
from .reading import LineTooLong
from .reading import NDJSONSplitter
from .reading import RecordDeadline

if TYPE_CHECKING:
    import aiohttp

__all__ = ["OllamaClient"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

_TAGS_PATH = "/api/tags"
_OWN = ("options", "stream", "warmup")


class OllamaClient(HTTPClient):
    """One aiohttp session to one Ollama server; use as ``async with`` or call :meth:`aclose`.

    :param host: base URL or ``OLLAMA_HOST``-style value; None reads ``$OLLAMA_HOST``.
    :param timeout: seconds allowed for each whole record: the first from sending the request,
        each next one from the one before.
    :param connect_timeout: seconds allowed to open the connection.
    """

    async def version(self) -> str:
        """The server's version string (``GET /api/version``)."""
        data = await self._request_json("GET", "/api/version")
        return str(data.get("version", "")) if isinstance(data, dict) else ""

    async def tags(self) -> list[dict[str, Any]]:
        """The installed models as ``/api/tags`` lists them (what ``ollama list`` prints).

        :raises MalformedResponseError: a body that is not an object, or whose ``models`` is
            not a list.
        """
        data = await self._request_json("GET", _TAGS_PATH)
        models = data.get("models") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(models, (list, type(None))):
            raise self._malformed(
                orjson.dumps(data),
                _TAGS_PATH,
                method="GET",
                expected="a JSON object with a 'models' list",
            )
        return [m for m in models or [] if isinstance(m, dict)]

    async def installed_models(self) -> list[ModelDetails]:
        """:meth:`tags` parsed: the models ``ollama list`` would print.

        :raises MalformedResponseError: for an entry without a name.
        """
        tags = await self.tags()
        try:
            return parse_tags({"models": tags})
        except ValueError as exc:
            body = orjson.dumps({"models": tags})
            raise self._malformed(
                body, _TAGS_PATH, method="GET", expected="a model list with a name for every model"
            ) from exc

    async def ps(self) -> list[dict[str, Any]]:
        """The loaded models (``GET /api/ps``)."""
        data = await self._request_json("GET", "/api/ps")
        models = data.get("models") if isinstance(data, dict) else None
        return [m for m in models or [] if isinstance(m, dict)]

    async def show(self, model: str) -> dict[str, Any]:
        """Model details (``POST /api/show``)."""
        data = await self._request_json("POST", "/api/show", {"model": model}, model=model)
        return data if isinstance(data, dict) else {}

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
        """``POST /api/chat``, streamed and timed; returns the round's :class:`Measurement`.

        ``fields`` are any other ``/api/chat`` request fields (``tools``, ``format``,
        ``think``, ``keep_alive``, ``logprobs``, ...), sent as given; ``None`` leaves one out.

        :raises TypeError: a keyword that is no ``/api/chat`` request field (before sending).
        :raises EmptyReplyError: the reply generated nothing (see :class:`EmptyReplyError`).
        """
        extra = check_fields("chat", fields, call="OllamaClient.chat()", own=_OWN)
        payload: dict[str, Any] = {"model": model, "messages": list(messages), "stream": stream}
        _put_optional(payload, options=options, **extra)
        return await self._generation("chat", "/api/chat", payload, warmup=warmup)

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
        """``POST /api/generate``, streamed and timed; returns the :class:`Measurement`.

        ``fields`` are any other ``/api/generate`` request fields (``raw``, ``suffix``,
        ``template``, ``context``, ``images``, ``format``, ``think``, ``keep_alive``, ...).

        :raises TypeError: a keyword that is no ``/api/generate`` request field.
        :raises EmptyReplyError: the reply generated nothing.
        """
        extra = check_fields("generate", fields, call="OllamaClient.generate()", own=_OWN)
        payload: dict[str, Any] = {"model": model, "prompt": prompt, "stream": stream}
        _put_optional(payload, system=system, options=options, **extra)
        return await self._generation("generate", "/api/generate", payload, warmup=warmup)

    async def unload(self, model: str, *, poll_s: float = 0.02) -> None:
        """Unload ``model`` and return once ``/api/ps`` no longer lists it.

        Sends Ollama's unload request (``/api/generate`` with no prompt and ``keep_alive: 0``),
        then polls ``/api/ps``: the server stops the runner in the background, so the next
        request pays the whole load (in its ``load_duration``) only after that.

        :raises ServerTimeoutError: still listed after ``timeout`` seconds.
        """
        await self._request_json(
            "POST", "/api/generate", {"model": model, "keep_alive": 0, "stream": False}, model
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        wanted = normalize_model_name(model)
        while True:
            listed = {normalize_model_name(str(m.get("name") or m.get("model") or ""))
                      for m in await self.ps()}  # fmt: skip
            if wanted not in listed:
                return
            if loop.time() >= deadline:
                raise self._timeout(f"unload of {model!r} (GET /api/ps still lists it)", "/api/ps")
            await asyncio.sleep(poll_s)
            poll_s = min(poll_s * 2, 0.25)

    async def _generation(
        self, endpoint: Endpoint, path: str, payload: dict[str, Any], *, warmup: bool
    ) -> Measurement:
        import aiohttp

        model = str(payload["model"])
        stream = bool(payload["stream"])
        rec = Recorder(model=model, endpoint=endpoint, stream=stream, warmup=warmup)
        session = self._get_session()
        url = self._url(path)
        clock = time.perf_counter_ns
        rec.sent(clock())
        try:
            async with (
                RecordDeadline(self.timeout) as deadline,
                session.post(url, json=payload, allow_redirects=False) as resp,
            ):
                rec.headers(clock())
                self._check_redirect(resp, "POST", path)
                deadline.watch(cut_off(resp))
                if resp.status >= 400:
                    raise self._http_error(resp.status, await resp.read(), "POST", path, model)
                last, number = await self._consume(resp, rec, endpoint, path, deadline)
        except BrokenStream as exc:
            raise self._broken(exc, path, rec) from exc
        except asyncio.TimeoutError as exc:  # before ClientConnectionError: a subclass of both
            if is_connect_timeout(exc):
                raise self._unreachable(exc, path) from exc
            phase = "next chunk" if rec.chunks else "first chunk"
            raise self._timeout(phase, path, rec) from exc
        except aiohttp.ClientConnectorError as exc:  # no connection was made
            raise self._unreachable(exc, path) from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            # the request went out: a reset or close now is a broken answer, not a dead server
            raise self._incomplete(path, rec, "closed", str(exc) or type(exc).__name__) from exc
        except aiohttp.ClientError as exc:
            raise self._protocol(exc, path) from exc
        except LineTooLong as exc:
            raise self._too_large(exc, path, rec) from None
        measurement = self._measured(rec, path, last, number)
        self._check_output(path, rec, measurement.done_reason)
        return measurement

    async def _consume(
        self,
        resp: aiohttp.ClientResponse,
        rec: Recorder,
        endpoint: Endpoint,
        path: str,
        deadline: RecordDeadline,
    ) -> tuple[bytes, int]:
        """Read the stream into ``rec``; returns the final line and its number."""
        text_key = "response" if endpoint == "generate" else None
        splitter = NDJSONSplitter(self.max_line_bytes)
        clock = time.perf_counter_ns
        line_no = 0
        loads = orjson.loads  # ~6x json.loads on stream records (benchmarks/)
        async for data in resp.content.iter_any():
            t = clock()
            rec.add_bytes(len(data))
            lines = splitter.feed(data)
            if not lines:
                continue
            deadline.renew()
            for line in lines:
                line_no += 1
                if self._record(loads, line, line_no, t, rec, text_key, path):
                    return line, line_no
        rest = splitter.flush()
        if rest:
            line_no += 1
            if self._record(loads, rest, line_no, clock(), rec, text_key, path):
                return rest, line_no
        raise self._incomplete(path, rec, "ended")

    def _record(
        self,
        loads: Any,
        line: bytes,
        line_no: int,
        t: int,
        rec: Recorder,
        text_key: str | None,
        path: str,
    ) -> bool:
        """Feed one line to the recorder; True when it was the final record."""
        try:
            obj = loads(line)
        except ValueError:
            obj = None
        if type(obj) is not dict:
            raise self._malformed(line, path, part="line", number=line_no)
        if "error" in obj:
            raise self._stream_error(str(obj["error"]), path, rec)
        # the hot path: one pass per chunk, no allocations beyond what the record needs
        if text_key is None:
            msg = obj.get("message")
            if type(msg) is dict:
                content = msg.get("content") or ""
                thinking = msg.get("thinking") or ""
                tools = msg.get("tool_calls") or ()
            else:
                content = thinking = ""
                tools = ()
        else:
            content = obj.get(text_key) or ""
            thinking = obj.get("thinking") or ""
            tools = obj.get("tool_calls") or ()
        if type(content) is not str:
            content = ""
        if type(thinking) is not str:
            thinking = ""
        if type(tools) is not list:
            tools = ()
        rec.chunk(t, content, thinking, tools)
        if obj.get("done") is True:
            rec.done(t, obj)
            return True
        return False

    # ----------------------------------------------------------------- error builders

    def _model_missing(self, status: int, error: str, error_type: str, is_json: bool) -> bool:
        return status == 404 and "not found" in error.lower()


def _put_optional(payload: dict[str, Any], **values: Any) -> None:
    for key, value in values.items():
        if value is not None:
            payload[key] = dict(value) if isinstance(value, Mapping) else value
