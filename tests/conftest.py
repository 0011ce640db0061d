from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytest_ollama_bench.testing"]

#: What every pytester project gets unless a test writes its own ini (then include this).
BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


#: The terminal width of inner runs unless a test sets ``COLUMNS`` itself: wide enough for
#: every column, so tests about content need not care how tables fit a narrow terminal.
WIDE = "250"


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester with an ini that keeps pytest-asyncio from warning in every inner run, in a
    terminal :data:`WIDE` characters wide."""
    pytester.makeini(BASE_INI)
    monkeypatch.setenv("COLUMNS", WIDE)
    return pytester


# --------------------------------------------------------------------------- tables


def printed_table(lines: list[str], title: str) -> dict[str, dict[str, str]]:
    """The summary table under the line ending with ``title``: {model: {header: cell}}, the
    columns cut where the dashes under the headers are."""
    at = next(i for i, line in enumerate(lines) if line.endswith(title))
    header, dashes = lines[at + 1], lines[at + 2]
    spans = [m.span() for m in re.finditer(r"-+", dashes)]
    names = [header[a:b].strip() for a, b in spans]
    rows: dict[str, dict[str, str]] = {}
    for line in lines[at + 3 :]:
        if not line.strip() or line.startswith("  "):
            break
        cells = [line[a:b].strip() for a, b in spans]
        rows[cells[0]] = dict(zip(names[1:], cells[1:], strict=True))
    return rows


# --------------------------------------------------------------------------- a server of our own

#: A step of a scripted answer: bytes are written (and flushed), a float is a pause in seconds.
Step = bytes | float


def http_head(content_type: str = "application/x-ndjson", status: str = "200 OK") -> bytes:
    """A response head whose body ends when the connection closes (no length, not chunked)."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nConnection: close\r\n\r\n"
    ).encode()


class ScriptedServer:
    """A raw HTTP/1.1 server on 127.0.0.1 of the test's own, in a thread: each request to a
    path gets that path's script written byte for byte (status line and headers included),
    then the connection closes. ``bodies`` has every request's parsed JSON body.

    For bytes the package's emulator cannot produce: trickled headers, late trailers, exact
    final records of other servers.
    """

    def __init__(self, routes: dict[str, list[Step]]) -> None:
        import asyncio
        import threading

        self.routes = routes
        self.bodies: list[tuple[str, object]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: object, writer: object) -> None:
        import asyncio
        import json

        assert isinstance(reader, asyncio.StreamReader)
        assert isinstance(writer, asyncio.StreamWriter)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            self.bodies.append((path, json.loads(body) if body.strip() else None))
            for step in self.routes.get(path, [http_head("text/plain", "404 Not Found")]):
                if isinstance(step, float):
                    await asyncio.sleep(step)
                else:
                    writer.write(step)
                    await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _shutdown(self) -> None:
        import asyncio

        self._server.close()
        current = asyncio.current_task()
        handlers = [t for t in asyncio.all_tasks() if t is not current]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)

    def close(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def scripted() -> Iterator[Callable[[dict[str, list[Step]]], ScriptedServer]]:
    """A factory of :class:`ScriptedServer` s, closed after the test."""
    servers: list[ScriptedServer] = []

    def start(routes: dict[str, list[Step]]) -> ScriptedServer:
        server = ScriptedServer(routes)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
