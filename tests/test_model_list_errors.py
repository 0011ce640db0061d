"""Why a session has no model list, as a user reads it in the skip (or error) reason.

Each server here is a small ``aiohttp.web`` app of the test's own on 127.0.0.1, served from a
thread while pytester runs a real test file against it: it answers the model-list endpoint
with what a misconfigured or broken server sends (an HTTP error, a web page), which the
emulator cannot produce.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from aiohttp import web

BENCH = """
import pytest

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_bench(ollama_bench):
    ollama_bench.chat("2+2?")
"""


@contextmanager
def answering(path: str, status: int, body: bytes, content_type: str) -> Iterator[str]:
    """A server whose ``GET path`` answers ``status`` with ``body``; yields its base URL."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type)

    app = web.Application()
    app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> str:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    try:
        yield asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=10)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_http_500_on_tags_names_status_and_server_text(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BENCH)
    body = b'{"error":"database is locked"}'
    with answering("/api/tags", 500, body, "application/json") as url:
        result = pytester.runpytest(f"--ollama-host={url}", "--ollama-models=llama3.2", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED * could not list the models of {url}: GET /api/tags answered HTTP 500: "
            "database is locked; check the server log"
        ]
    )
    assert "not reachable" not in result.stdout.str()
    assert "ollama serve" not in result.stdout.str()


def test_http_500_on_tags_under_require_is_an_error_with_the_status(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(BENCH)
    body = b'{"error":"database is locked"}'
    with answering("/api/tags", 500, body, "application/json") as url:
        result = pytester.runpytest(
            f"--ollama-host={url}", "--ollama-models=llama3.2", "--ollama-require"
        )
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*GET /api/tags answered HTTP 500: database is locked*(--ollama-require is set)*"]
    )
    assert "not reachable" not in result.stdout.str()


def test_html_page_on_tags_says_it_is_not_json(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BENCH)
    page = b"<html><body><h1>Welcome to nginx!</h1></body></html>"
    with answering("/api/tags", 200, page, "text/html") as url:
        result = pytester.runpytest(f"--ollama-host={url}", "--ollama-models=llama3.2", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED * could not list the models of {url}: GET /api/tags returned a body that "
            "is not JSON (an HTML page); is this an Ollama server?"
        ]
    )
    assert "not reachable" not in result.stdout.str()


#: what ``python -m http.server`` answers for a path it does not have
HTTP_SERVER_404 = b"""<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: 404</p>
        <p>Message: File not found.</p>
    </body>
</html>
"""


def test_an_html_error_page_is_named_in_one_line_before_the_hint(
    pytester: pytest.Pytester,
) -> None:
    """Another web server on the port: the reason names the page in one line, and the hint
    (is this an Ollama server?) is not pushed out of the short summary by its markup."""
    pytester.makepyfile(BENCH)
    with answering("/api/tags", 404, HTTP_SERVER_404, "text/html") as url:
        result = pytester.runpytest(f"--ollama-host={url}", "--ollama-models=llama3.2", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED * could not list the models of {url}: GET /api/tags answered HTTP 404: an "
            "HTML page titled 'Error response'; is this an Ollama server? (for an "
            "OpenAI-compatible one use --ollama-api openai)"
        ]
    )
    assert "<p>" not in result.stdout.str()


def test_404_on_v1_models_says_the_server_is_not_openai_compatible(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(BENCH)
    with answering("/api/tags", 200, b'{"models":[]}', "application/json") as url:
        result = pytester.runpytest(
            f"--ollama-host={url}", "--ollama-api=openai", "--ollama-models=llama3.2", "-rs"
        )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED * could not list the models of {url}: GET /v1/models answered HTTP 404*"
            f"{url} does not look like an OpenAI-compatible server*"
        ]
    )
    assert "not reachable" not in result.stdout.str()


@pytest.mark.parametrize(
    ("api", "server", "hint"),
    [
        ("native", "Ollama server", "start it with 'ollama serve'"),
        ("openai", "OpenAI-compatible server", "start it ('ollama serve', 'llama-server', ...)"),
    ],
)
def test_refused_port_says_not_reachable_with_the_start_hint(
    pytester: pytest.Pytester, api: str, server: str, hint: str
) -> None:
    pytester.makepyfile(BENCH)
    url = f"http://127.0.0.1:{_free_port()}"
    result = pytester.runpytest(
        f"--ollama-host={url}", f"--ollama-api={api}", "--ollama-models=llama3.2", "-rs"
    )
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"SKIPPED * {server} at {url} is not reachable (connection refused); {hint} or "
            "point --ollama-host*"
        ]
    )
    assert "ssl:default" not in result.stdout.str()  # aiohttp's wrapper text, not the cause
