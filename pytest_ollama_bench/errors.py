"""What can go wrong talking to a server, as structured errors whose message is rendered once.

Every error carries its facts as fields: ``kind`` (a short stable string), ``host`` (the
server's URL, credentials removed), ``path`` (the endpoint), ``api`` (``"native"`` for Ollama's
own API, ``"openai"`` for an OpenAI-compatible one) and, per class, the specifics: the HTTP
``status`` and the server's own ``error`` text, the ``model``, the ``chunks`` received, ...
The message (what failed and where, then what to do) is rendered from those fields; code that
needs a fact reads the field, never the text.

The classes serve both APIs, so their names are generic; the ``Ollama*`` names of earlier
releases are aliases of the same classes (``except OllamaHTTPError`` still catches them).
Standard library only: the plugin imports this module at pytest start-up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import fields
from typing import Any
from typing import ClassVar
from typing import Literal

from .settings import Api

__all__ = [
    "ConnectionLostError",
    "EmptyReplyError",
    "IncompleteStreamError",
    "MalformedResponseError",
    "ModelNotFoundError",
    "OllamaConnectionError",
    "OllamaError",
    "OllamaHTTPError",
    "OllamaIncompleteStreamError",
    "OllamaMalformedResponseError",
    "OllamaModelNotFoundError",
    "OllamaStreamError",
    "OllamaTimeoutError",
    "ProtocolError",
    "RedirectError",
    "ResponseTooLargeError",
    "ServerError",
    "ServerHTTPError",
    "ServerTimeoutError",
    "ServerUnreachableError",
    "StreamError",
    "body_text",
    "excerpt",
    "is_html",
]

#: how messages name the server of each API, and how to start one
SERVER_NAMES: dict[Api, str] = {
    "native": "Ollama server",
    "openai": "OpenAI-compatible server",
}
_START_HINTS: dict[Api, str] = {
    "native": "start it with 'ollama serve'",
    "openai": "start it ('ollama serve', 'llama-server', ...)",
}
_HTTP_HINTS: dict[int, str] = {
    400: "the request was rejected; check the model name and options",
    429: "the server is rate limiting; retry later",
    500: "the server failed; check its log",
}
_HTTP_HINTS_BY_API: dict[Api, dict[int, str]] = {
    "native": {503: "the server is busy; lower the concurrency or raise OLLAMA_MAX_QUEUE"},
    "openai": {
        401: "the server wants an API key; set OPENAI_API_KEY",
        403: "the server refused the API key; check OPENAI_API_KEY",
        503: "the server is busy; lower the concurrency or raise its queue size",
    },
}
_EXCERPT = 200


def excerpt(data: bytes | str, limit: int = _EXCERPT) -> str:
    """``data`` as text (invalid UTF-8 replaced), cut to ``limit`` characters with ``…``."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return text if len(text) <= limit else text[:limit] + "\u2026"


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def is_html(body: bytes) -> bool:
    """Whether ``body`` is a web page (a proxy's, another web server's error page)."""
    head = body[:4096].lstrip()
    return (
        head[:1] == b"<"
        and re.search(rb"<(!doctype html|html|head|body)\b", head, re.I) is not None
    )


def body_text(body: bytes) -> str:
    """A non-JSON body on one line: a web page as ``an HTML page titled '...'`` (its markup
    says nothing a reader needs), other text with its whitespace collapsed, cut."""
    if is_html(body):
        title = _TITLE.search(body[:4096])
        name = " ".join(title.group(1).decode("utf-8", "replace").split()) if title else ""
        return f"an HTML page titled {excerpt(name, 80)!r}" if name else "an HTML page"
    return excerpt(" ".join(body[:4096].decode("utf-8", "replace").split()))


def utf8_problem(data: bytes) -> str:
    """Where ``data`` is not valid UTF-8 (``byte 0xff at offset 12``), or ``""`` when it is.

    Only the first 64 KiB are looked at.
    """
    head = data[: 64 * 1024]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and len(data) > len(head):
            return ""  # a character cut by the 64 KiB window
        return f"byte {head[exc.start]:#04x} at offset {exc.start}"
    return ""


def _restore(cls: type[ServerError], values: dict[str, Any]) -> ServerError:
    return cls(**values)


@dataclass(eq=False, kw_only=True)
class ServerError(Exception):
    """Base class: a request to the server at ``host`` failed.

    :ivar kind: a short stable string naming the failure (``"unreachable"``, ``"http"``,
        ``"model_not_found"``, ``"stream_error"``, ``"incomplete"``, ``"malformed"``,
        ``"timeout"``); a class attribute.
    :ivar host: the server's base URL with credentials removed.
    :ivar path: the endpoint, e.g. ``/api/chat``; ``""`` when no request was addressed.
    :ivar api: ``"native"`` (Ollama's API) or ``"openai"`` (an OpenAI-compatible server).
    """

    kind: ClassVar[str] = "error"

    host: str
    path: str = ""
    api: Api = "native"

    def __post_init__(self) -> None:
        self.args = (self.message,)

    @property
    def server(self) -> str:
        """How messages name the server: ``Ollama server`` or ``OpenAI-compatible server``."""
        return SERVER_NAMES[self.api]

    @property
    def summary(self) -> str:
        """What failed and where."""
        return f"a request to {self.host}{self.path} failed"

    @property
    def hint(self) -> str:
        """What to do about it."""
        return "check the server log"

    @property
    def message(self) -> str:
        """The whole message: ``summary; hint``."""
        return f"{self.summary}; {self.hint}"

    def __str__(self) -> str:
        return self.message

    def __reduce__(self) -> tuple[Any, ...]:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return _restore, (type(self), values)


@dataclass(eq=False, kw_only=True)
class ServerUnreachableError(ServerError):
    """No connection to the server: refused, unknown host, connect timeout.

    :ivar detail: the low-level cause as the network stack put it, e.g. ``connection
        refused``, ``name or service not known``, ``no connection within 5 s``.
    """

    kind: ClassVar[str] = "unreachable"

    detail: str = ""

    @property
    def summary(self) -> str:
        detail = f" ({self.detail})" if self.detail.strip() else ""
        return f"{self.server} at {self.host} is not reachable{detail}"

    @property
    def hint(self) -> str:
        return f"{_START_HINTS[self.api]} or point --ollama-host / OLLAMA_HOST at a running server"


@dataclass(eq=False, kw_only=True)
class ServerHTTPError(ServerError):
    """The server answered with an HTTP error status before any output.

    :ivar status: the HTTP status, e.g. 500.
    :ivar error: the server's own error text (its JSON ``error``/``message``, else the start
        of the body).
    :ivar method: the request's method (``GET``, ``POST``); ``""`` when unknown.
    :ivar body_is_json: whether the error body was JSON (a plain-text 404 usually means the
        endpoint does not exist, not that a model is missing).
    """

    kind: ClassVar[str] = "http"

    status: int
    error: str = ""
    method: str = ""
    body_is_json: bool = True

    @property
    def request(self) -> str:
        """``METHOD URL`` of the failed request."""
        method = f"{self.method} " if self.method else ""
        return f"{method}{self.host}{self.path}"

    @property
    def summary(self) -> str:
        return f"{self.request} answered HTTP {self.status}: {self.error}"

    @property
    def hint(self) -> str:
        if self.api == "openai" and self.status == 404 and not self.body_is_json:
            return (
                f"is {self.host} an OpenAI-compatible server? give --ollama-host without the "
                "/v1 suffix"
            )
        hint = _HTTP_HINTS_BY_API[self.api].get(self.status) or _HTTP_HINTS.get(self.status)
        return hint or "check the server log"


@dataclass(eq=False, kw_only=True)
class ModelNotFoundError(ServerHTTPError):
    """HTTP 404 whose error says the requested model does not exist on the server.

    :ivar model: the model as requested.
    """

    kind: ClassVar[str] = "model_not_found"

    status: int = 404
    model: str

    @property
    def summary(self) -> str:
        return f"model {self.model!r} not found on {self.host} (HTTP {self.status}: {self.error})"

    @property
    def hint(self) -> str:
        if self.api == "openai":
            return (
                f"pull or load it on the server (Ollama: ollama pull {self.model}) or pick one "
                "that GET /v1/models lists"
            )
        return f"run: ollama pull {self.model}"


@dataclass(eq=False, kw_only=True)
class StreamError(ServerError):
    """The stream carried an error record (``{"error": ...}``) after the response started.

    :ivar error: the server's own error text.
    :ivar chunks: chunks received before the error.
    :ivar model: the model the request was for.
    """

    kind: ClassVar[str] = "stream_error"

    error: str
    chunks: int
    model: str = ""

    @property
    def summary(self) -> str:
        return (
            f"{self.host}{self.path} reported an error mid-stream after {self.chunks} chunk(s) "
            f"for model {self.model!r}: {self.error}"
        )

    @property
    def hint(self) -> str:
        if self.api == "native":
            return "check the server log (journalctl -u ollama / ~/.ollama/logs/server.log)"
        return "check the server log"


IncompleteReason = Literal["closed", "ended", "no_events"]


@dataclass(eq=False, kw_only=True)
class IncompleteStreamError(ServerError):
    """The response ended before its final record.

    :ivar chunks: chunks received before it ended.
    :ivar model: the model the request was for.
    :ivar reason: ``"closed"`` (the connection was closed; ``detail`` says how), ``"ended"``
        (the body ended without the final record: ``done: true`` natively, ``data: [DONE]``
        or a ``finish_reason`` on OpenAI servers), ``"no_events"`` (an OpenAI stream request
        got no Server-Sent Events at all).
    :ivar detail: the low-level cause of a closed connection.
    """

    kind: ClassVar[str] = "incomplete"

    chunks: int
    model: str = ""
    reason: IncompleteReason = "ended"
    detail: str = ""

    @property
    def summary(self) -> str:
        if self.reason == "closed":
            detail = f" ({self.detail})" if self.detail else ""
            why = f"the connection was closed{detail}"
        elif self.reason == "no_events":
            why = "the response had no SSE 'data:' events"
        elif self.api == "openai":
            why = "the stream ended without 'data: [DONE]' or a finish_reason"
        else:
            why = "the stream ended without a 'done: true' record"
        return (
            f"stream from {self.host}{self.path} for model {self.model!r} broke off after "
            f"{self.chunks} chunk(s): {why}"
        )

    @property
    def hint(self) -> str:
        if self.reason == "no_events":
            return "is it an OpenAI-compatible server?"
        if self.reason == "ended" and self.api == "openai":
            return (
                "Ollama's /v1 ends a stream like this when the model fails mid-stream; "
                "--ollama-api native shows the error"
            )
        return "the server may have crashed or been restarted"


@dataclass(eq=False, kw_only=True)
class EmptyReplyError(ServerError):
    """The reply was complete but generated nothing: no content, thinking or tool call, or
    Ollama's ``done_reason`` ``load``/``unload`` (it loaded or unloaded the model instead).

    Such a reply is no measurement of generation (its few milliseconds would pass any latency
    gate), so it fails the call.

    :ivar chunks: chunks received.
    :ivar model: the model the request was for.
    :ivar done_reason: the final record's ``done_reason`` (OpenAI: ``finish_reason``), if any.
    """

    kind: ClassVar[str] = "empty_reply"

    chunks: int
    model: str = ""
    done_reason: str | None = None

    @property
    def summary(self) -> str:
        reason = f"done_reason {self.done_reason!r}" if self.done_reason else "no done_reason"
        return (
            f"{self.host}{self.path} generated nothing for model {self.model!r} ({reason}, "
            f"{self.chunks} chunk(s) without content, thinking or a tool call)"
        )

    @property
    def hint(self) -> str:
        if self.done_reason in ("load", "unload"):
            return (
                f"Ollama answers '{self.done_reason}' when there is nothing to generate from "
                "(e.g. no user message, only a system one): give the call a prompt"
            )
        return "check the prompt and options (num_predict, stop) and the server log"


MalformedPart = Literal["body", "line", "event"]


@dataclass(eq=False, kw_only=True)
class MalformedResponseError(ServerError):
    """A response body, stream line or stream event that is not what the API sends.

    :ivar line: the offending bytes (the whole body, or one line / event's data).
    :ivar line_number: 1-based number of the line or event in the stream; 1 for a body.
    :ivar part: ``"body"`` (a whole response), ``"line"`` (an NDJSON line), ``"event"`` (an
        SSE event).
    :ivar expected: what the body should have been, e.g. ``JSON`` or ``a JSON object with a
        'data' list`` (for ``part="body"``).
    :ivar method: the request's method, for a body.
    """

    kind: ClassVar[str] = "malformed"

    line: bytes
    line_number: int = 1
    part: MalformedPart = "body"
    expected: str = "JSON"
    method: str = ""
    problem: str = ""

    @property
    def what(self) -> str:
        """What is wrong: ``problem`` when given, invalid UTF-8 when the bytes are, else not
        being what was expected."""
        if self.problem:
            return self.problem
        bad_utf8 = utf8_problem(self.line)
        if bad_utf8:
            return f"is not valid UTF-8 ({bad_utf8})"
        if self.part == "body":
            return f"is not {self.expected}"
        return "is not a JSON object"

    @property
    def summary(self) -> str:
        if self.part == "body":
            method = f"{self.method} " if self.method else ""
            return (
                f"{method}{self.host}{self.path} returned a body that {self.what}: "
                f"{excerpt(self.line)!r}"
            )
        return (
            f"{self.part} {self.line_number} of the stream from {self.host}{self.path} "
            f"{self.what}: {excerpt(self.line)!r}"
        )

    @property
    def hint(self) -> str:
        if self.part == "body":
            return f"is {self.host} an {self.server}?"
        return "the server or a proxy in between corrupted the stream"


@dataclass(eq=False, kw_only=True)
class ServerTimeoutError(ServerError):
    """Nothing arrived within the timeout: no response, no first chunk or no next chunk.

    :ivar phase: what was awaited: ``"response"``, ``"first chunk"`` or ``"next chunk"``.
    :ivar seconds: the timeout that passed.
    :ivar model: the model the request was for; ``""`` for a request without one.
    """

    kind: ClassVar[str] = "timeout"

    phase: str
    seconds: float
    model: str = ""

    @property
    def summary(self) -> str:
        model = f" for model {self.model!r}" if self.model else ""
        return f"no {self.phase} from {self.host}{self.path}{model} within {self.seconds:g} s"

    @property
    def hint(self) -> str:
        return (
            "the model may still be loading or the server is overloaded: raise "
            "--ollama-timeout or warm the model up"
        )


@dataclass(eq=False, kw_only=True)
class RedirectError(ServerHTTPError):
    """The server answered with a redirect; redirects are never followed, so that a prompt
    goes to the configured server only and the record names the server that answered.

    :ivar location: where it redirected to (credentials removed), ``""`` when it did not say.
    """

    kind: ClassVar[str] = "redirect"

    location: str = ""

    @property
    def summary(self) -> str:
        target = self.location or "a location it did not give"
        return f"{self.request} answered HTTP {self.status} redirecting to {target}"

    @property
    def hint(self) -> str:
        return (
            "redirects are not followed (the request would go to another server than "
            "--ollama-host names): point --ollama-host / OLLAMA_HOST at the server itself"
        )


@dataclass(eq=False, kw_only=True)
class ResponseTooLargeError(ServerError):
    """One line (or Server-Sent Event) of a response exceeded the size limit.

    :ivar limit: the limit in bytes.
    :ivar model: the model the request was for.
    """

    kind: ClassVar[str] = "too_large"

    limit: int
    model: str = ""

    @property
    def summary(self) -> str:
        model = f" for model {self.model!r}" if self.model else ""
        return (
            f"a line of the response from {self.host}{self.path}{model} is longer than "
            f"{self.limit:,} bytes"
        )

    @property
    def hint(self) -> str:
        return (
            "no API sends lines that long: check --ollama-host (is it the server you meant?) and "
            "any proxy in between"
        )


@dataclass(eq=False, kw_only=True)
class ConnectionLostError(ServerError):
    """The connection was closed or reset after the request was sent, before the response.

    :ivar method: the request's method.
    :ivar detail: the low-level cause, e.g. ``Connection reset by peer``.
    """

    kind: ClassVar[str] = "connection_lost"

    method: str = ""
    detail: str = ""

    @property
    def summary(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.host} closed the connection after {self.method} {self.path} was sent, "
            f"before answering{detail}"
        )

    @property
    def hint(self) -> str:
        return "the server (or a proxy in between) dropped the request: check its log"


@dataclass(eq=False, kw_only=True)
class ProtocolError(ServerError):
    """The answer broke HTTP itself (a malformed status line or headers, ...).

    :ivar detail: what the HTTP library reported.
    """

    kind: ClassVar[str] = "protocol"

    detail: str = ""

    @property
    def summary(self) -> str:
        return f"the answer of {self.host}{self.path} is not valid HTTP ({self.detail})"

    @property
    def hint(self) -> str:
        return f"is {self.host} an {self.server}, reached without a proxy that alters it?"


# the names of earlier releases: the same classes
OllamaError = ServerError
OllamaConnectionError = ServerUnreachableError
OllamaHTTPError = ServerHTTPError
OllamaModelNotFoundError = ModelNotFoundError
OllamaStreamError = StreamError
OllamaIncompleteStreamError = IncompleteStreamError
OllamaMalformedResponseError = MalformedResponseError
OllamaTimeoutError = ServerTimeoutError
