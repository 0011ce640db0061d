"""An aiohttp client for Ollama's native HTTP API that times every streamed chunk.

No pytest here: the fixture, the benchmarks and users' own scripts share this client.

>>> async with OllamaClient("127.0.0.1:11434") as client:       # doctest: +SKIP
...     m = await client.chat("llama3.2", [{"role": "user", "content": "Hi"}])
...     print(m.ttft_ms, m.tokens_per_s, m.text)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import orjson

from .availability import InstalledModel
from .availability import parse_tags
from .hosts import DEFAULT_HOST
from .hosts import parse_host
from .hosts import redact_host
from .measure import Recorder
from .models import Endpoint
from .models import Measurement

if TYPE_CHECKING:
    import aiohttp

__all__ = [
    "DEFAULT_HOST",
    "HTTPClient",
    "NDJSONSplitter",
    "OllamaClient",
    "OllamaConnectionError",
    "OllamaError",
    "OllamaHTTPError",
    "OllamaIncompleteStreamError",
    "OllamaMalformedResponseError",
    "OllamaModelNotFoundError",
    "OllamaStreamError",
    "OllamaTimeoutError",
    "parse_host",
    "redact_host",
]

_EXCERPT = 200
_C = TypeVar("_C", bound="HTTPClient")


# --------------------------------------------------------------------------- errors


class OllamaError(Exception):
    """Base class: something went wrong talking to an Ollama server at ``host``."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.message = message
        self.host = host


class OllamaConnectionError(OllamaError):
    """The server could not be reached at all."""


class OllamaHTTPError(OllamaError):
    """The server answered with an HTTP error status before streaming."""

    def __init__(self, message: str, *, host: str, status: int, error: str, path: str) -> None:
        super().__init__(message, host=host)
        self.status = status
        self.error = error
        self.path = path


class OllamaModelNotFoundError(OllamaHTTPError):
    """HTTP 404 whose error text says the model was not found."""

    def __init__(self, message: str, *, host: str, status: int, error: str, path: str, model: str):
        super().__init__(message, host=host, status=status, error=error, path=path)
        self.model = model


class OllamaStreamError(OllamaError):
    """The stream carried an ``{"error": ...}`` line after output had started."""

    def __init__(self, message: str, *, host: str, error: str, chunks: int) -> None:
        super().__init__(message, host=host)
        self.error = error
        self.chunks = chunks


class OllamaIncompleteStreamError(OllamaError):
    """The stream ended (or the connection dropped) without a ``done: true`` record."""

    def __init__(self, message: str, *, host: str, chunks: int) -> None:
        super().__init__(message, host=host)
        self.chunks = chunks


class OllamaMalformedResponseError(OllamaError):
    """A line of the response was not a JSON object."""

    def __init__(self, message: str, *, host: str, line: bytes, line_number: int) -> None:
        super().__init__(message, host=host)
        self.line = line
        self.line_number = line_number


class OllamaTimeoutError(OllamaError):
    """No first chunk, or no next chunk, within the timeout."""

    def __init__(self, message: str, *, host: str, phase: str, seconds: float) -> None:
        super().__init__(message, host=host)
        self.phase = phase
        self.seconds = seconds


# --------------------------------------------------------------------------- NDJSON


class NDJSONSplitter:
    """Split a byte stream into lines, whatever the network chunk boundaries.

    ``feed`` returns the complete, non-blank lines (without the newline) that the new data
    finished; a partial line waits for the next call. ``flush`` returns what is left at EOF.
    """

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        if b"\n" not in data:
            self._buf += data
            return []
        buf = self._buf + data if self._buf else data
        *lines, self._buf = buf.split(b"\n")
        return [line for line in lines if line.strip()]

    def flush(self) -> bytes:
        rest, self._buf = self._buf, b""
        return rest if rest.strip() else b""


def _excerpt(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


# --------------------------------------------------------------------------- client


def is_connect_timeout(exc: BaseException) -> bool:
    """True for aiohttp's connect timeout (aiohttp >= 3.10 has a class for it)."""
    import aiohttp

    kind = getattr(aiohttp, "ConnectionTimeoutError", None)
    return isinstance(kind, type) and isinstance(exc, kind)


class HTTPClient:
    """What both API clients share: one aiohttp session, its timeouts, the error builders.

    :param host: base URL or ``OLLAMA_HOST``-style value; None reads ``$OLLAMA_HOST``.
    :param timeout: seconds allowed until the first chunk and between chunks.
    :param connect_timeout: seconds allowed to open the connection.
    """

    #: how error messages name the server, and what to do when it is not there
    server_name = "Ollama server"
    start_hint = "start it with 'ollama serve'"

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.host = parse_host(host)
        self.display_host = redact_host(self.host)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self: _C) -> _C:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session (idempotent)."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    def _get_session(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.connect_timeout, sock_read=self.timeout
                ),
            )
        return self._session

    def _url(self, path: str) -> str:
        return self.host + path

    async def _request_json(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None, model: str = ""
    ) -> Any:
        """One plain JSON request; HTTP errors through :meth:`_http_error`."""
        import aiohttp

        session = self._get_session()
        try:
            async with session.request(method, self._url(path), json=payload) as resp:
                body = await resp.read()
                if resp.status >= 400:
                    raise self._http_error(resp.status, body, path, model)
        except asyncio.TimeoutError as exc:  # before ClientConnectionError: a subclass of both
            if is_connect_timeout(exc):
                raise self._unreachable(exc) from exc
            raise self._timeout("response", path) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise self._unreachable(exc) from exc
        try:
            return orjson.loads(body)
        except ValueError as exc:
            raise OllamaMalformedResponseError(
                f"{method} {self.display_host}{path} returned a body that is not JSON: "
                f"{_excerpt(body)!r}; is {self.display_host} an {self.server_name}?",
                host=self.display_host,
                line=body,
                line_number=1,
            ) from exc

    def _http_error(self, status: int, body: bytes, path: str, model: str) -> OllamaHTTPError:
        """An HTTP error status before streaming, with the server's message and a hint."""
        error = _error_text(body)
        hint = {
            400: "the request was rejected; check the model name and options",
            429: "the server is rate limiting; retry later",
            500: "the server failed; check its log",
            503: "the server is busy; lower the concurrency or raise OLLAMA_MAX_QUEUE",
        }.get(status, "check the server log")
        return OllamaHTTPError(
            f"{self.display_host}{path} answered HTTP {status}: {error}; {hint}",
            host=self.display_host,
            status=status,
            error=error,
            path=path,
        )

    def _unreachable(self, exc: BaseException) -> OllamaConnectionError:
        detail = str(exc) or type(exc).__name__
        return OllamaConnectionError(
            f"{self.server_name} at {self.display_host} is not reachable ({detail}); "
            f"{self.start_hint} or point --ollama-host / OLLAMA_HOST at a running server",
            host=self.display_host,
        )

    def _incomplete(self, path: str, rec: Recorder, why: str) -> OllamaIncompleteStreamError:
        return OllamaIncompleteStreamError(
            f"stream from {self.display_host}{path} for model {rec.model!r} broke off after "
            f"{rec.chunks} chunk(s): {why}",
            host=self.display_host,
            chunks=rec.chunks,
        )

    def _timeout(self, phase: str, path: str, rec: Recorder | None = None) -> OllamaTimeoutError:
        model = f" for model {rec.model!r}" if rec is not None else ""
        return OllamaTimeoutError(
            f"no {phase} from {self.display_host}{path}{model} within {self.timeout:g} s; "
            "the model may still be loading or the server is overloaded: raise "
            "--ollama-timeout or warm the model up",
            host=self.display_host,
            phase=phase,
            seconds=self.timeout,
        )


class OllamaClient(HTTPClient):
    """One aiohttp session to one Ollama server; use as ``async with`` or call :meth:`aclose`.

    :param host: base URL or ``OLLAMA_HOST``-style value; None reads ``$OLLAMA_HOST``.
    :param timeout: seconds allowed until the first chunk and between chunks.
    :param connect_timeout: seconds allowed to open the connection.
    """

    async def version(self) -> str:
        """The server's version string (``GET /api/version``)."""
        data = await self._request_json("GET", "/api/version")
        return str(data.get("version", "")) if isinstance(data, dict) else ""

    async def tags(self) -> list[dict[str, Any]]:
        """The installed models as ``/api/tags`` lists them (what ``ollama list`` prints)."""
        data = await self._request_json("GET", "/api/tags")
        models = data.get("models") if isinstance(data, dict) else None
        return [m for m in models or [] if isinstance(m, dict)]

    async def installed_models(self) -> list[InstalledModel]:
        """:meth:`tags` parsed: the models ``ollama list`` would print."""
        return parse_tags({"models": await self.tags()})

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
        think: bool | str | None = None,
        keep_alive: str | float | None = None,
        format: str | Mapping[str, Any] | None = None,
        warmup: bool = False,
    ) -> Measurement:
        """``POST /api/chat``, streamed and timed; returns the round's :class:`Measurement`."""
        payload: dict[str, Any] = {"model": model, "messages": list(messages), "stream": stream}
        _put_optional(payload, options=options, think=think, keep_alive=keep_alive, format=format)
        return await self._generation("chat", "/api/chat", payload, warmup=warmup)

    async def generate(
        self,
        model: str,
        prompt: str,
        *,
        system: str | None = None,
        raw: bool | None = None,
        options: Mapping[str, Any] | None = None,
        stream: bool = True,
        think: bool | str | None = None,
        keep_alive: str | float | None = None,
        format: str | Mapping[str, Any] | None = None,
        warmup: bool = False,
    ) -> Measurement:
        """``POST /api/generate``, streamed and timed; returns the :class:`Measurement`."""
        payload: dict[str, Any] = {"model": model, "prompt": prompt, "stream": stream}
        _put_optional(
            payload,
            system=system,
            raw=raw,
            options=options,
            think=think,
            keep_alive=keep_alive,
            format=format,
        )
        return await self._generation("generate", "/api/generate", payload, warmup=warmup)

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
            async with session.post(url, json=payload) as resp:
                rec.headers(clock())
                if resp.status >= 400:
                    raise self._http_error(resp.status, await resp.read(), path, model)
                await self._consume(resp, rec, endpoint, path)
        except asyncio.TimeoutError as exc:  # before ClientConnectionError: a subclass of both
            if is_connect_timeout(exc):
                raise self._unreachable(exc) from exc
            phase = "next chunk" if rec.chunks else "first chunk"
            raise self._timeout(phase, path, rec) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise self._incomplete(
                path,
                rec,
                f"the connection was closed ({exc}); the server may have crashed or been restarted",
            ) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise self._unreachable(exc) from exc
        return rec.measurement()

    async def _consume(
        self, resp: aiohttp.ClientResponse, rec: Recorder, endpoint: Endpoint, path: str
    ) -> None:
        text_key = "response" if endpoint == "generate" else None
        splitter = NDJSONSplitter()
        clock = time.perf_counter_ns
        line_no = 0
        loads = orjson.loads  # ~6x json.loads on stream records (benchmarks/)
        async for data in resp.content.iter_any():
            t = clock()
            rec.add_bytes(len(data))
            for line in splitter.feed(data):
                line_no += 1
                if self._record(loads, line, line_no, t, rec, text_key, path):
                    return
        rest = splitter.flush()
        if rest:
            line_no += 1
            if self._record(loads, rest, line_no, clock(), rec, text_key, path):
                return
        raise self._incomplete(
            path,
            rec,
            "the stream ended without a 'done: true' record; the server may have crashed or "
            "been restarted",
        )

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
            raise OllamaMalformedResponseError(
                f"line {line_no} of the stream from {self.display_host}{path} is not a JSON "
                f"object: {_excerpt(line)!r}; the server or a proxy in between corrupted the "
                "stream",
                host=self.display_host,
                line=line,
                line_number=line_no,
            )
        if "error" in obj:
            error = str(obj["error"])
            raise OllamaStreamError(
                f"{self.display_host}{path} reported an error mid-stream after "
                f"{rec.chunks} chunk(s) for model {rec.model!r}: {error}; "
                "check the server log (journalctl -u ollama / ~/.ollama/logs/server.log)",
                host=self.display_host,
                error=error,
                chunks=rec.chunks,
            )
        # the hot path: one pass per chunk, no allocations beyond what the record needs
        if text_key is None:
            msg = obj.get("message")
            if type(msg) is dict:
                content = msg.get("content") or ""
                thinking = msg.get("thinking") or ""
                tools = bool(msg.get("tool_calls"))
            else:
                content = thinking = ""
                tools = False
        else:
            content = obj.get(text_key) or ""
            thinking = obj.get("thinking") or ""
            tools = bool(obj.get("tool_calls"))
        if type(content) is not str:
            content = ""
        if type(thinking) is not str:
            thinking = ""
        rec.chunk(t, content, thinking, tools)
        if obj.get("done") is True:
            rec.done(t, obj)
            return True
        return False

    # ----------------------------------------------------------------- error builders

    def _http_error(self, status: int, body: bytes, path: str, model: str) -> OllamaHTTPError:
        error = _error_text(body)
        if status == 404 and "not found" in error.lower() and path != "/" and model:
            return OllamaModelNotFoundError(
                f"model {model!r} not found on {self.display_host} (HTTP 404: {error}); "
                f"run: ollama pull {model}",
                host=self.display_host,
                status=status,
                error=error,
                path=path,
                model=model,
            )
        return super()._http_error(status, body, path, model)


def _error_text(body: bytes) -> str:
    try:
        obj = orjson.loads(body)
    except ValueError:
        return _excerpt(body).strip()
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):  # OpenAI-style {"error": {"message": ...}}
            return str(err.get("message", err))
        if err is not None:
            return str(err)
    return _excerpt(body).strip()


def _put_optional(payload: dict[str, Any], **values: Any) -> None:
    for key, value in values.items():
        if value is not None:
            payload[key] = dict(value) if isinstance(value, Mapping) else value
