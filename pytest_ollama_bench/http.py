"""What both API clients share: one aiohttp session, JSON requests, timeouts, error builders.

:class:`HTTPClient` is the base of :class:`~pytest_ollama_bench.client.OllamaClient` (native
API) and :class:`~pytest_ollama_bench.openai.OpenAIClient`. :class:`NDJSONSplitter` cuts a
byte stream into lines. No pytest here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Any
from typing import TypeVar

import orjson

from .errors import OllamaConnectionError
from .errors import OllamaHTTPError
from .errors import OllamaIncompleteStreamError
from .errors import OllamaMalformedResponseError
from .errors import OllamaTimeoutError
from .hosts import parse_host
from .hosts import redact_host

if TYPE_CHECKING:
    import aiohttp

    from .measure import Recorder

__all__ = ["HTTPClient", "NDJSONSplitter", "error_text", "excerpt", "is_connect_timeout"]

_EXCERPT = 200
_C = TypeVar("_C", bound="HTTPClient")


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


def excerpt(data: bytes | str) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + "…"


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
                f"{excerpt(body)!r}; is {self.display_host} an {self.server_name}?",
                host=self.display_host,
                line=body,
                line_number=1,
            ) from exc

    def _http_error(self, status: int, body: bytes, path: str, model: str) -> OllamaHTTPError:
        """An HTTP error status before streaming, with the server's message and a hint."""
        error = error_text(body)
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


def error_text(body: bytes) -> str:
    try:
        obj = orjson.loads(body)
    except ValueError:
        return excerpt(body).strip()
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):  # OpenAI-style {"error": {"message": ...}}
            return str(err.get("message", err))
        if err is not None:
            return str(err)
    return excerpt(body).strip()
