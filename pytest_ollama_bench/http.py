"""What both API clients share: one aiohttp session, JSON requests, timeouts, error builders.

:class:`HTTPClient` is the base of :class:`~pytest_ollama_bench.client.OllamaClient` (native
API) and :class:`~pytest_ollama_bench.openai.OpenAIClient`; it turns every failure into one of
the structured errors of :mod:`pytest_ollama_bench.errors`. No pytest here.
"""

from __future__ import annotations

import asyncio
import math
import os
import socket
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import TypeVar

import orjson
from yarl import URL

from .credentials import authorization
from .errors import ConnectionLostError
from .errors import EmptyReplyError
from .errors import IncompleteReason
from .errors import IncompleteStreamError
from .errors import MalformedPart
from .errors import MalformedResponseError
from .errors import ModelNotFoundError
from .errors import ProtocolError
from .errors import RedirectError
from .errors import ResponseTooLargeError
from .errors import ServerHTTPError
from .errors import ServerTimeoutError
from .errors import ServerUnreachableError
from .errors import StreamError
from .errors import body_text
from .errors import excerpt
from .errors import utf8_problem
from .hosts import parse_host
from .hosts import redact_host
from .reading import MAX_LINE_BYTES
from .reading import BrokenStream
from .reading import LineTooLong
from .reading import Probe
from .reading import RecordDeadline
from .settings import Api

if TYPE_CHECKING:
    import aiohttp

    from .measure import Recorder
    from .models import Measurement

__all__ = ["HTTPClient", "cut_off", "error_info", "is_connect_timeout"]

#: pytest leaves this module's frames out of tracebacks (``--full-trace`` shows them): a
#: failing benchmark call ends at the test's own line, and ``-l`` shows no locals of ours.
__tracebackhide__ = True

_C = TypeVar("_C", bound="HTTPClient")
#: How much of a malformed line an error keeps (its message shows 200 characters).
_KEPT_BYTES = 4096


def is_connect_timeout(exc: BaseException) -> bool:
    """True for aiohttp's connect timeout (aiohttp >= 3.10 has a class for it)."""
    import aiohttp

    kind = getattr(aiohttp, "ConnectionTimeoutError", None)
    return isinstance(kind, type) and isinstance(exc, kind)


def cut_off(resp: aiohttp.ClientResponse) -> Probe:
    """A :meth:`RecordDeadline.watch` probe: is ``resp``'s connection closed under a body that
    has not ended, and why.

    aiohttp closes the connection on a framing error inside a body (an invalid chunk size) but
    leaves the body's reader waiting; the probe returns the error it recorded (its first line,
    e.g. ``Invalid character in chunk size``), ``""`` when it recorded none, and None while the
    connection is open or the body has ended.
    """

    def probe() -> str | None:
        conn = resp.connection
        if conn is None or not conn.closed or resp.content.is_eof():
            return None
        protocol = conn.protocol
        error = protocol.exception() if protocol is not None else None
        if error is None:
            return ""
        text = str(getattr(error, "message", None) or error).strip()
        return (text.splitlines()[0] if text else type(error).__name__).rstrip(": ")

    return probe


def connect_failure(exc: BaseException, timeout: float | None = None) -> str:
    """Why a connection could not be made, in the network's words: ``connection refused``,
    ``name or service not known``, ``no connection within 5 s`` (not aiohttp's wrapper text,
    which names an ``ssl:default`` context even for plain HTTP)."""
    if isinstance(exc, asyncio.TimeoutError):
        return "no connection" + (f" within {timeout:g} s" if timeout else " in time")
    cause = getattr(exc, "os_error", exc if isinstance(exc, OSError) else None)
    if isinstance(cause, socket.gaierror):
        return (cause.strerror or str(cause)).lower()
    if isinstance(cause, OSError) and cause.errno is not None and cause.errno > 0:
        return os.strerror(cause.errno).lower()
    if isinstance(cause, OSError) and str(cause):
        return str(cause)
    return str(exc) or type(exc).__name__


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def error_info(body: bytes) -> tuple[str, str, bool]:
    """``(message, type, whether the body was JSON)`` of an error response body.

    The message is the JSON ``error`` (a string, or an object's ``message``: Ollama, OpenAI,
    llama.cpp), else a top-level ``message`` or ``detail`` (older vLLM, FastAPI), else the start
    of the body; the type is the error's ``type`` when the server gives one, else ``""``.
    """
    try:
        obj = orjson.loads(body)
    except ValueError:
        return body_text(body), "", False
    if isinstance(obj, dict):
        err = obj.get("error")
        if isinstance(err, dict):
            return str(err.get("message", err)), _text(err.get("type")), True
        if isinstance(err, str):
            return err, _text(obj.get("type")), True
        for key in ("message", "detail"):
            if isinstance(obj.get(key), str):
                return str(obj[key]), _text(obj.get("type")), True
    return excerpt(body).strip(), "", True


class HTTPClient:
    """One aiohttp session to one server; use as ``async with`` or call :meth:`aclose`.

    :param host: base URL or ``OLLAMA_HOST``-style value; None reads ``$OLLAMA_HOST``.
    :param timeout: seconds allowed for a whole record: the first one (or a whole JSON body)
        from sending the request, each next one from the one before (:class:`RecordDeadline`).
    :param connect_timeout: seconds allowed to open the connection.
    :param headers: sent with every request.
    :param api_key: a bearer token; None reads the environment (see
        :mod:`~pytest_ollama_bench.credentials`), ``""`` sends none. Credentials in ``host`` are
        sent as HTTP Basic authentication instead, never in a request URL.
    :param max_line_bytes: the longest stream line (or event line) accepted.
    :raises HostError: credentials in ``host`` that are not percent-encoded, or together with
        an API key.
    """

    #: which API the subclass speaks; the errors it raises say so
    api: ClassVar[Api] = "native"

    def __init__(
        self,
        host: str | None = None,
        *,
        timeout: float = 300.0,
        connect_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        api_key: str | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.max_line_bytes = max_line_bytes
        self.host, auth = authorization(parse_host(host), self.api, api_key=api_key)
        self.display_host = redact_host(self.host)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._headers: dict[str, str] = {"Authorization": auth} if auth else {}
        self._headers.update(headers or {})
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.display_host}>"

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
                # no cap on connections (aiohttp's default is 100): a load run's concurrency is
                # the caller's, and a capped pool would hold requests back after their clock
                # started
                connector=aiohttp.TCPConnector(limit=0),
                # no per-read timeout: RecordDeadline bounds each whole record instead
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout),
            )
        return self._session

    def _url(self, path: str) -> str:
        return self.host + path

    async def _request_json(
        self, method: str, path: str, payload: Mapping[str, Any] | None = None, model: str = ""
    ) -> Any:
        """One plain JSON request; returns the decoded body.

        :raises ServerUnreachableError: no connection.
        :raises ServerHTTPError: an HTTP error status (:class:`ModelNotFoundError` for a
            missing ``model``).
        :raises ServerTimeoutError: no response within the timeout.
        :raises MalformedResponseError: a body that is not JSON.
        """
        import aiohttp

        session = self._get_session()
        try:
            async with (
                RecordDeadline(self.timeout) as deadline,
                session.request(
                    method, self._url(path), json=payload, allow_redirects=False
                ) as resp,
            ):
                self._check_redirect(resp, method, path)
                deadline.watch(cut_off(resp))
                body = await resp.read()
                if resp.status >= 400:
                    raise self._http_error(resp.status, body, method, path, model)
        except BrokenStream as exc:
            if exc.detail:
                raise self._protocol(exc, path) from exc
            raise self._lost(exc, method, path) from exc
        except asyncio.TimeoutError as exc:  # before ClientConnectionError: a subclass of both
            if is_connect_timeout(exc):
                raise self._unreachable(exc, path) from exc
            raise self._timeout("response", path) from exc
        except aiohttp.ClientConnectorError as exc:
            raise self._unreachable(exc, path) from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise self._lost(exc, method, path) from exc
        except aiohttp.ClientError as exc:
            raise self._protocol(exc, path) from exc
        try:
            return orjson.loads(body)
        except ValueError as exc:
            raise self._malformed(body, path, method=method) from exc

    # ----------------------------------------------------------------- error builders

    def _check_redirect(self, resp: aiohttp.ClientResponse, method: str, path: str) -> None:
        """Raise :class:`RedirectError` for a 3xx answer (redirects are never followed)."""
        if 300 <= resp.status < 400:
            location = resp.headers.get("Location", "")
            if location:
                location = redact_host(str(resp.url.join(URL(location))))
            raise RedirectError(
                host=self.display_host,
                path=path,
                api=self.api,
                status=resp.status,
                method=method,
                location=location,
            )

    def _lost(self, exc: BaseException, method: str, path: str) -> ConnectionLostError:
        return ConnectionLostError(
            host=self.display_host,
            path=path,
            api=self.api,
            method=method,
            detail=str(exc) or type(exc).__name__,
        )

    def _protocol(self, exc: BaseException, path: str) -> ProtocolError:
        detail = getattr(exc, "detail", None) or getattr(exc, "message", None)
        detail = detail or str(exc) or type(exc).__name__
        return ProtocolError(host=self.display_host, path=path, api=self.api, detail=str(detail))

    def _too_large(self, exc: LineTooLong, path: str, rec: Recorder) -> ResponseTooLargeError:
        return ResponseTooLargeError(
            host=self.display_host, path=path, api=self.api, limit=exc.limit, model=rec.model
        )

    def _measured(self, rec: Recorder, path: str, last: bytes, number: int) -> Measurement:
        """The round's measurement; numbers that are not finite make the answer malformed."""
        try:
            measurement = rec.measurement()
        except (ValueError, OverflowError) as exc:
            raise self._malformed(
                last, path, part="line", number=number, problem=f"has a number out of range ({exc})"
            ) from None
        for name, value in measurement:
            if isinstance(value, float) and not math.isfinite(value):
                raise self._malformed(
                    last,
                    path,
                    part="line",
                    number=number,
                    problem=f"gives a {name} that is not a finite number",
                )
        return measurement

    def _model_missing(self, status: int, error: str, error_type: str, is_json: bool) -> bool:
        """Whether an HTTP error for a request naming a model says that model does not exist."""
        return False

    def _http_error(
        self, status: int, body: bytes, method: str, path: str, model: str
    ) -> ServerHTTPError:
        """An HTTP error status before any output, with the server's own message."""
        error, error_type, is_json = error_info(body)
        if model and self._model_missing(status, error, error_type, is_json):
            return ModelNotFoundError(
                host=self.display_host,
                path=path,
                api=self.api,
                status=status,
                error=error,
                method=method,
                body_is_json=is_json,
                model=model,
            )
        return ServerHTTPError(
            host=self.display_host,
            path=path,
            api=self.api,
            status=status,
            error=error,
            method=method,
            body_is_json=is_json,
        )

    def _unreachable(self, exc: BaseException, path: str) -> ServerUnreachableError:
        return ServerUnreachableError(
            host=self.display_host,
            path=path,
            api=self.api,
            detail=connect_failure(exc, self.timeout),
        )

    def _broken(
        self, exc: BrokenStream, path: str, rec: Recorder
    ) -> ProtocolError | IncompleteStreamError:
        """A stream whose connection closed under it: invalid HTTP when that is known."""
        if exc.detail:
            return self._protocol(exc, path)
        return self._incomplete(path, rec, "closed", str(exc))

    def _incomplete(
        self, path: str, rec: Recorder, reason: IncompleteReason, detail: str = ""
    ) -> IncompleteStreamError:
        return IncompleteStreamError(
            host=self.display_host,
            path=path,
            api=self.api,
            chunks=rec.chunks,
            model=rec.model,
            reason=reason,
            detail=detail,
        )

    def _timeout(self, phase: str, path: str, rec: Recorder | None = None) -> ServerTimeoutError:
        return ServerTimeoutError(
            host=self.display_host,
            path=path,
            api=self.api,
            phase=phase,
            seconds=self.timeout,
            model=rec.model if rec is not None else "",
        )

    def _malformed(
        self,
        data: bytes,
        path: str,
        *,
        part: MalformedPart = "body",
        number: int = 1,
        expected: str = "JSON",
        method: str = "",
        problem: str = "",
    ) -> MalformedResponseError:
        if not problem:  # judged on all of it: only an excerpt is kept
            bad = utf8_problem(data)
            if bad:
                problem = f"is not valid UTF-8 ({bad})"
            elif len(data) > _KEPT_BYTES:
                problem = f"is not {expected}" if part == "body" else "is not a JSON object"
        return MalformedResponseError(
            host=self.display_host,
            path=path,
            api=self.api,
            line=data[:_KEPT_BYTES],
            line_number=number,
            part=part,
            expected=expected,
            method=method,
            problem=problem,
        )

    def _empty_reply(self, path: str, rec: Recorder, done_reason: Any) -> EmptyReplyError:
        return EmptyReplyError(
            host=self.display_host,
            path=path,
            api=self.api,
            chunks=rec.chunks,
            model=rec.model,
            done_reason=done_reason if isinstance(done_reason, str) else None,
        )

    def _check_output(self, path: str, rec: Recorder, done_reason: Any) -> None:
        """Raise :class:`EmptyReplyError` for a reply that generated nothing.

        ``done_reason`` ``load``/``unload`` (Ollama answered a load or unload, not a
        generation) or no content, thinking or tool call at all: timing such a reply would
        measure no generation, so no round is made of it.
        """
        if done_reason in ("load", "unload") or not rec.produced_output:
            raise self._empty_reply(path, rec, done_reason)

    def _stream_error(self, error: str, path: str, rec: Recorder) -> StreamError:
        return StreamError(
            host=self.display_host,
            path=path,
            api=self.api,
            error=error,
            chunks=rec.chunks,
            model=rec.model,
        )
