"""Whole HTTP responses as Ollama's Go server writes them: content types, bodies and errors.

gin's ``c.JSON`` writes compact JSON without a trailing newline; the OpenAI middleware's
``json.NewEncoder(w).Encode`` adds one; errors raised inside Ollama's ``streamResponse`` carry a
bare ``application/json``. :class:`Call` is one HTTP request as every handler sees it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

from aiohttp import web

from ._go import format_time
from ._go import marshal
from ._go import parse_time_ns

__all__ = [
    "GIN_PLAIN",
    "JSON",
    "JSON_BARE",
    "NDJSON",
    "NS_PER_S",
    "SSE",
    "TEXT",
    "Call",
    "Flavor",
    "encoded",
    "error_response",
    "json_response",
    "now",
    "openai_error",
    "response",
    "unix_seconds",
]

JSON = "application/json; charset=utf-8"  # gin's c.JSON
JSON_BARE = "application/json"  # errors raised inside streamResponse, and every /v1 body
NDJSON = "application/x-ndjson"
SSE = "text/event-stream"
TEXT = "text/plain; charset=utf-8"  # gin's c.String
GIN_PLAIN = "text/plain"  # gin's own 404/405 pages
NS_PER_S = 1_000_000_000


class Flavor(Enum):
    """Which API a request came in through: Ollama's own or the OpenAI-compatible ``/v1``."""

    NATIVE = "native"
    OPENAI = "openai"


@dataclass
class Call:
    """One HTTP request as the handlers see it."""

    request: web.BaseRequest
    seq: int  # its index in OllamaEmulator.requests
    t0: int  # perf_counter_ns at handler entry
    body: bytes


def response(status: int, body: bytes, content_type: str | None) -> web.Response:
    """A response with exactly ``body`` and, when given, that ``Content-Type``."""
    headers = {"Content-Type": content_type} if content_type else None
    return web.Response(status=status, body=body, headers=headers)


def json_response(status: int, obj: Any, content_type: str = JSON) -> web.Response:
    """gin's ``c.JSON``: compact, no trailing newline."""
    return response(status, marshal(obj), content_type)


def encoded(status: int, obj: Any) -> web.Response:
    """Go's ``json.NewEncoder(w).Encode`` as the OpenAI middleware uses it: trailing newline."""
    return response(status, marshal(obj) + b"\n", JSON_BARE)


def openai_error(status: int, message: str) -> dict[str, Any]:
    """The OpenAI error object Ollama's ``/v1`` layer sends."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def error_response(
    flavor: Flavor, status: int, message: str, *, in_stream: bool = False
) -> web.Response:
    """An error as the API of ``flavor`` sends it (``in_stream``: raised in streamResponse)."""
    if flavor is Flavor.OPENAI:
        return encoded(status, openai_error(status, message))
    return json_response(status, {"error": message}, JSON_BARE if in_stream else JSON)


def now() -> str:
    """``created_at`` of a chunk: the current UTC time as Go renders it."""
    return format_time(time.time_ns(), utc=True)


def unix_seconds(rfc3339: str) -> int:
    """Whole seconds since the epoch of an RFC 3339 time (``created`` on ``/v1``)."""
    return parse_time_ns(rfc3339) // NS_PER_S
