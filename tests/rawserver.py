"""A tiny HTTP server on 127.0.0.1 for bytes the emulator cannot produce: redirects, resets,
hangs, invalid UTF-8, absurd numbers, credentials checks.

Each request is answered by a handler ``(method, path, headers, body) -> Reply``. A
:class:`Reply` is raw bytes to send (``chunks`` with optional pauses), a ``reset`` (the
connection is reset after the request was read), or ``hang`` (nothing is ever sent). Every
request is logged, and so is each connection the client closed while the server was sending.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from pytest_ollama_bench.loop import LoopThread


@dataclass
class Reply:
    chunks: Sequence[bytes] = ()
    pause_s: float = 0.0  # between chunks
    reset: bool = False
    hang: bool = False


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    #: earlier replies still being sent to a client that had not hung up, when this arrived
    busy: int = 0


Handler = Callable[[Request], Reply]


def http(status: int, body: bytes | str = b"", *headers: str, ctype: str = "") -> bytes:
    data = body.encode() if isinstance(body, str) else body
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(data)}", *headers]
    if ctype:
        lines.append(f"Content-Type: {ctype}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def chunked_head(ctype: str = "application/x-ndjson") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


END = b"0\r\n\r\n"

TAGS = json.dumps(
    {"models": [{"name": "llama3.2:latest", "model": "llama3.2:latest", "digest": "ab" * 32}]}
)
DONE = {
    "model": "llama3.2",
    "done": True,
    "done_reason": "stop",
    "eval_count": 3,
    "eval_duration": 3_000_000,
    "prompt_eval_count": 2,
    "prompt_eval_duration": 1_000_000,
}


def ndjson(*objects: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def chat_stream(words: Sequence[str] = ("4", " is", " it")) -> bytes:
    pieces = [{"model": "llama3.2", "message": {"content": w}, "done": False} for w in words]
    return ndjson(*pieces, {**DONE, "message": {"content": ""}})


def ollama(request: Request, chat: Reply | None = None) -> Reply:
    """A minimal Ollama: tags, version, ps, and a short chat stream (or ``chat``)."""
    if request.path == "/api/tags":
        return Reply([http(200, TAGS, ctype="application/json")])
    if request.path == "/api/version":
        return Reply([http(200, '{"version": "0.9.0"}', ctype="application/json")])
    if request.path == "/api/ps":
        return Reply([http(200, '{"models": []}', ctype="application/json")])
    if request.path in ("/api/chat", "/api/generate"):
        if chat is not None:
            return chat
        return Reply([chunked_head(), chunk(chat_stream()), END])
    return Reply([http(404, "404 page not found")])


@dataclass
class RawServer:
    handler: Handler
    requests: list[Request] = field(default_factory=list)
    client_closed: list[str] = field(default_factory=list)  # paths whose reply the client cut

    def __post_init__(self) -> None:
        self._thread = LoopThread("raw-server")
        self._server: asyncio.base_events.Server | None = None
        self.port = 0
        self.event = threading.Event()
        self._streaming: list[asyncio.StreamReader] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        async def start() -> int:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            return int(self._server.sockets[0].getsockname()[1])

        self.port = self._thread.run(start())
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            if self._server is not None:
                self._server.close()

        self._thread.run(stop())
        self._thread.close(timeout=10)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.path}" for r in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                length = int(headers.get("content-length", "0") or 0)
                body = await reader.readexactly(length) if length else b""
                busy = sum(1 for r in self._streaming if not r.at_eof())
                request = Request(method, path, headers, body, busy)
                self.requests.append(request)
                self.event.set()
                reply = self.handler(request)
                if reply.hang:
                    await asyncio.sleep(3600)
                    return
                if reply.reset:
                    sock = writer.get_extra_info("socket")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    writer.transport.abort()
                    return
                self._streaming.append(reader)
                try:
                    for i, data in enumerate(reply.chunks):
                        if i and reply.pause_s:
                            await asyncio.sleep(reply.pause_s)
                        if reader.at_eof():  # the client hung up
                            self.client_closed.append(path)
                            return
                        writer.write(data)
                        await writer.drain()
                except (ConnectionError, OSError):
                    self.client_closed.append(path)
                    return
                finally:
                    self._streaming.remove(reader)
        finally:
            writer.close()
