"""The errors the HTTP clients raise: something went wrong talking to a server.

Standard library only.
"""

from __future__ import annotations

__all__ = [
    "OllamaConnectionError",
    "OllamaError",
    "OllamaHTTPError",
    "OllamaIncompleteStreamError",
    "OllamaMalformedResponseError",
    "OllamaModelNotFoundError",
    "OllamaStreamError",
    "OllamaTimeoutError",
]


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
