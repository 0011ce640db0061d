"""The OpenAI-compatible client: SSE parsing, request mapping, and real streams on 127.0.0.1.

Streams come from small ``aiohttp.web`` apps started in the test that speak like llama.cpp's
``llama-server`` (``timings`` objects) or like Ollama's ``/v1`` layer (``usage`` only), and
from the package's emulator (:class:`FakeOllama`), which serves ``/v1`` as Ollama does.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from pytest_ollama_bench.errors import OllamaConnectionError
from pytest_ollama_bench.errors import OllamaHTTPError
from pytest_ollama_bench.errors import OllamaIncompleteStreamError
from pytest_ollama_bench.errors import OllamaMalformedResponseError
from pytest_ollama_bench.errors import OllamaModelNotFoundError
from pytest_ollama_bench.errors import OllamaStreamError
from pytest_ollama_bench.errors import OllamaTimeoutError
from pytest_ollama_bench.models import Measurement
from pytest_ollama_bench.openai import OpenAIClient
from pytest_ollama_bench.openai_fields import final_record
from pytest_ollama_bench.openai_fields import request_fields
from pytest_ollama_bench.sse import SSEEvent
from pytest_ollama_bench.sse import SSEParser
from pytest_ollama_bench.testing import FakeOllama
from pytest_ollama_bench.testing import Fault

USER = [{"role": "user", "content": "What is 2+2? One sentence."}]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CLOSE = object()  # in a script: drop the connection without ending the HTTP body


# --------------------------------------------------------------------------- SSE parsing

LINE_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\r\n"),
    max_size=12,
)
EVENTS = st.lists(
    st.tuples(
        st.lists(LINE_TEXT, min_size=1, max_size=3),  # data lines
        st.sampled_from(["", "message", "error", "delta"]),  # event type ("" = none)
        st.booleans(),  # a comment line in front
    ),
    min_size=1,
    max_size=10,
)


def encode_events(events: list[tuple[list[str], str, bool]], eol: str) -> bytes:
    out: list[str] = []
    for data_lines, kind, comment in events:
        if comment:
            out.append(": keep-alive" + eol)
        if kind:
            out.append(f"event: {kind}{eol}")
        out.extend(f"data: {line}{eol}" for line in data_lines)
        out.append(eol)
    return "".join(out).encode()


def expected_events(events: list[tuple[list[str], str, bool]]) -> list[SSEEvent]:
    return [SSEEvent("\n".join(lines).encode(), kind or "message") for lines, kind, _ in events]


@given(EVENTS, st.sampled_from(["\n", "\r\n", "\r"]), st.data())
def test_any_split_of_an_sse_stream_yields_the_same_events(
    events: list[tuple[list[str], str, bool]], eol: str, data: st.DataObject
) -> None:
    stream = encode_events(events, eol)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    parser = SSEParser()
    got = [event for piece in pieces for event in parser.feed(piece)]
    assert parser.flush() == []
    assert got == expected_events(events)


@given(EVENTS, st.data())
def test_an_event_is_dispatched_by_the_chunk_that_completes_it(
    events: list[tuple[list[str], str, bool]], data: st.DataObject
) -> None:
    stream = encode_events(events, "\r\n")
    cut = data.draw(st.integers(0, len(stream)))
    parser = SSEParser()
    first = parser.feed(stream[:cut])
    assert first == SSEParser().feed(stream[:cut])  # nothing depends on what comes later
    assert first + parser.feed(stream[cut:]) == expected_events(events)


def test_sse_field_rules() -> None:
    parser = SSEParser()
    stream = (
        b"\xef\xbb\xbfdata:no-space\n\n"  # BOM skipped, the space after ':' is optional
        b"data:  two spaces\n\n"  # only one space is removed
        b"id: 7\nretry: 100\nbogus\n\n"  # no data: nothing dispatched
        b"event: error\ndata\ndata: x\n\n"  # 'data' without colon is an empty data line
        b"data: [DONE]"  # no newline at all: comes out at flush
    )
    assert parser.feed(stream) == [
        SSEEvent(b"no-space"),
        SSEEvent(b" two spaces"),
        SSEEvent(b"\nx", "error"),
    ]
    assert parser.flush() == [SSEEvent(b"[DONE]")]
    assert parser.flush() == []


# --------------------------------------------------------------------------- request mapping


def test_options_map_to_openai_fields() -> None:
    options = {
        "num_predict": 32,
        "temperature": 0,
        "top_p": 0.9,
        "seed": 42,
        "stop": ("\n\n",),
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "top_k": 40,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
        "num_ctx": 8192,  # no OpenAI counterpart: not sent
    }
    assert request_fields(options) == {
        "max_tokens": 32,
        "temperature": 0,
        "top_p": 0.9,
        "seed": 42,
        "stop": ["\n\n"],
        "presence_penalty": 0.1,
        "frequency_penalty": 0.2,
        "top_k": 40,
        "min_p": 0.05,
        "repeat_penalty": 1.1,
    }
    assert request_fields({"num_predict": -1}) == {}  # Ollama's "no limit"


def test_think_and_format_map_to_openai_fields() -> None:
    assert request_fields(think=False) == {"reasoning_effort": "none"}
    assert request_fields(think=True) == {"reasoning_effort": "medium"}
    assert request_fields(think="high") == {"reasoning_effort": "high"}
    assert request_fields(format="json") == {"response_format": {"type": "json_object"}}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert request_fields(format=schema) == {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema},
        }
    }
    with pytest.raises(ValueError, match="format must be 'json'"):
        request_fields(format="yaml")


def test_final_record_uses_ollama_key_names_and_never_guesses_durations() -> None:
    usage = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17}
    timings = {
        "prompt_n": 9,
        "cache_n": 3,
        "prompt_ms": 20.5,
        "predicted_n": 5,
        "predicted_ms": 50.25,
    }
    assert final_record("stop", usage, None) == {
        "done_reason": "stop",
        "eval_count": 5,
        "prompt_eval_count": 12,
    }
    assert final_record("length", None, timings) == {
        "done_reason": "length",
        "eval_count": 5,
        "prompt_eval_count": 12,
        "prompt_eval_cached_count": 3,
        "eval_duration": 50_250_000,
        "prompt_eval_duration": 20_500_000,
    }
    assert final_record(None, None, None) == {}


def test_host_drops_v1_and_api_key_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    client = OpenAIClient("http://127.0.0.1:8080/v1/")
    assert client.host == client.display_host == "http://127.0.0.1:8080"
    assert client._headers == {"Authorization": "Bearer ollama"}
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert OpenAIClient("127.0.0.1")._headers == {"Authorization": "Bearer sk-test"}
    assert OpenAIClient("127.0.0.1", api_key="")._headers == {}
    assert OpenAIClient("127.0.0.1", headers={"Authorization": "x"})._headers == {
        "Authorization": "x"
    }


# --------------------------------------------------------------------------- test servers


@asynccontextmanager
async def serve(routes: dict[tuple[str, str], Handler]) -> AsyncIterator[str]:
    """An aiohttp.web app on 127.0.0.1 with ``routes``; yields its base URL."""
    app = web.Application()
    for (method, path), handler in routes.items():
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


def script(
    steps: Sequence[bytes | float | object],
    *,
    seen: list[dict[str, Any]] | None = None,
    content_type: str = "text/event-stream",
) -> Handler:
    """A handler that writes ``steps``: bytes are sent, floats are pauses, CLOSE hangs up."""

    async def handler(request: web.Request) -> web.StreamResponse:
        if seen is not None:
            seen.append({"body": await request.json(), "headers": dict(request.headers)})
        resp = web.StreamResponse(headers={"Content-Type": content_type})
        await resp.prepare(request)
        for step in steps:
            if isinstance(step, float):
                await asyncio.sleep(step)
            elif isinstance(step, bytes):
                await resp.write(step)
            else:
                assert request.transport is not None
                request.transport.close()
                return resp
        await resp.write_eof()
        return resp

    return handler


def reply(status: int, body: bytes, content_type: str = "application/json") -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, body=body, content_type=content_type)

    return handler


def event(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    *,
    choices: bool = True,
    **extra: Any,
) -> bytes:
    """One ``data:`` event of a chat.completion.chunk."""
    obj: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "llama3.2",
        "choices": (
            [{"index": 0, "delta": delta or {}, "finish_reason": finish}] if choices else []
        ),
        **extra,
    }
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


DONE = b"data: [DONE]\n\n"
USAGE = {"prompt_tokens": 20, "completion_tokens": 3, "total_tokens": 23}
TIMINGS = {
    "cache_n": 0,
    "prompt_n": 20,
    "prompt_ms": 40.0,
    "predicted_n": 3,
    "predicted_ms": 30.0,
    "predicted_per_second": 100.0,
}

LLAMACPP = [
    event({"role": "assistant", "content": None}),
    event({"reasoning_content": "Easy."}),
    0.01,
    event({"content": "2+2"}),
    0.01,
    event({"content": " is 4."}),
    event({}, "stop"),
    event(choices=False, usage=USAGE, timings=TIMINGS),
    DONE,
]
OLLAMA_V1 = [
    event({"role": "assistant", "content": "2+2"}),
    event({"content": " is 4."}),
    event({}, "stop"),
    event(choices=False, usage=USAGE),
    DONE,
]


def run(
    routes: dict[tuple[str, str], Handler],
    call: Callable[[OpenAIClient], Awaitable[Any]],
    timeout: float = 10.0,
) -> Any:
    async def go() -> Any:
        async with serve(routes) as url, OpenAIClient(url, timeout=timeout) as client:
            return await call(client)

    return asyncio.run(go())


def chat_with(
    steps: Sequence[bytes | float | object],
    timeout: float = 10.0,
    content_type: str = "text/event-stream",
    **kw: Any,
) -> Any:
    routes = {("POST", "/v1/chat/completions"): script(steps, content_type=content_type)}
    return run(routes, lambda c: c.chat("llama3.2", USER, **kw), timeout=timeout)


# --------------------------------------------------------------------------- streams


def test_llamacpp_stream_gives_text_counts_and_rates() -> None:
    seen: list[dict[str, Any]] = []
    routes = {("POST", "/v1/chat/completions"): script(LLAMACPP, seen=seen)}
    m: Measurement = run(
        routes, lambda c: c.chat("llama3.2", USER, options={"num_predict": 8, "top_k": 1})
    )
    assert m.api == "openai"
    assert m.endpoint == "chat"
    assert m.text == "2+2 is 4."
    assert m.thinking == "Easy."
    assert m.chunks == 6  # role-only and finish chunks count; [DONE] does not
    assert m.done_reason == "stop"
    assert m.eval_count == 3
    assert m.prompt_eval_count == 20
    assert m.tokens_per_s == pytest.approx(100.0)
    assert m.prompt_tokens_per_s == pytest.approx(500.0)
    assert m.eval_ms == pytest.approx(30.0)
    assert m.prompt_eval_ms == pytest.approx(40.0)
    assert m.load_ms is None
    assert m.server_total_ms is None
    assert m.first_chunk_ms is not None
    assert m.ttft_ms is not None
    assert m.ttft_thinking_ms == m.ttft_ms
    assert m.ttft_content_ms is not None
    assert m.ttft_content_ms > m.ttft_ms
    assert len(m.itl_ms) == 2
    assert m.bytes == sum(len(s) for s in LLAMACPP if isinstance(s, bytes))
    body = seen[0]["body"]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 8
    assert body["top_k"] == 1
    assert body["messages"] == USER
    assert "keep_alive" not in body
    assert seen[0]["headers"]["Authorization"].startswith("Bearer ")


def test_ollama_v1_stream_has_counts_but_no_rates() -> None:
    m = chat_with(OLLAMA_V1)
    assert m.text == "2+2 is 4."
    assert m.eval_count == 3
    assert m.prompt_eval_count == 20
    assert m.tokens_per_s is None
    assert m.eval_ms is None
    assert m.tpot_ms is not None  # client-side: (total - ttft) / (eval_count - 1)


def test_chunk_boundaries_anywhere_give_the_same_measurement() -> None:
    whole = b"".join(s for s in LLAMACPP if isinstance(s, bytes)).replace(b"\n", b"\r\n")
    m = chat_with([whole[i : i + 7] for i in range(0, len(whole), 7)])
    assert m.text == "2+2 is 4."
    assert m.chunks == 6
    assert m.tokens_per_s == pytest.approx(100.0)


def test_generate_sends_system_and_prompt_as_chat() -> None:
    seen: list[dict[str, Any]] = []
    routes = {("POST", "/v1/chat/completions"): script(OLLAMA_V1, seen=seen)}
    m = run(
        routes,
        lambda c: c.generate("llama3.2", "2+2?", system="Be brief.", think=False, format="json"),
    )
    assert m.endpoint == "generate"
    assert m.text == "2+2 is 4."
    body = seen[0]["body"]
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "2+2?"},
    ]
    assert body["reasoning_effort"] == "none"
    assert body["response_format"] == {"type": "json_object"}


def test_non_streamed_completion() -> None:
    seen: list[dict[str, Any]] = []
    completion = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "4", "reasoning": "sum"},
                "finish_reason": "length",
            }
        ],
        "usage": USAGE,
        "timings": TIMINGS,
    }
    body = json.dumps(completion).encode()
    routes = {
        ("POST", "/v1/chat/completions"): script([body], seen=seen, content_type="application/json")
    }
    m = run(routes, lambda c: c.chat("llama3.2", USER, stream=False))
    assert not m.stream
    assert (m.text, m.thinking, m.chunks, m.done_reason) == ("4", "sum", 1, "length")
    assert m.tokens_per_s == pytest.approx(100.0)
    assert "stream_options" not in seen[0]["body"]
    assert seen[0]["body"]["stream"] is False


def test_finish_reason_without_done_terminator_is_accepted() -> None:
    m = chat_with(OLLAMA_V1[:-1])
    assert m.text == "2+2 is 4."
    assert m.eval_count == 3


# --------------------------------------------------------------------------- errors


def test_missing_model_raises_model_not_found() -> None:
    body = json.dumps(
        {
            "error": {
                "message": "model 'nope' not found",
                "type": "not_found_error",
                "param": None,
                "code": None,
            }
        }
    ).encode()
    routes = {("POST", "/v1/chat/completions"): reply(404, body)}
    with pytest.raises(OllamaModelNotFoundError) as info:
        run(routes, lambda c: c.chat("nope", USER))
    assert info.value.model == "nope"
    assert info.value.status == 404
    assert info.value.error == "model 'nope' not found"
    assert "ollama pull nope" in str(info.value)


def test_vllm_style_missing_model() -> None:
    body = json.dumps(
        {
            "object": "error",
            "message": "The model `nope` does not exist.",
            "type": "NotFoundError",
            "code": 404,
        }
    ).encode()
    routes = {("POST", "/v1/chat/completions"): reply(404, body)}
    with pytest.raises(OllamaModelNotFoundError, match="does not exist"):
        run(routes, lambda c: c.chat("nope", USER))


def test_plain_404_is_not_a_missing_model() -> None:
    async def go() -> None:
        async with serve({}) as url, OpenAIClient(url) as client:
            await client.chat("llama3.2", USER)

    with pytest.raises(OllamaHTTPError) as info:
        asyncio.run(go())
    assert not isinstance(info.value, OllamaModelNotFoundError)
    assert "OpenAI-compatible server?" in str(info.value)


def test_http_error_message_names_status_and_error() -> None:
    body = json.dumps({"error": {"message": "boom", "type": "api_error"}}).encode()
    routes = {("POST", "/v1/chat/completions"): reply(500, body)}
    with pytest.raises(OllamaHTTPError, match=r"answered HTTP 500: boom; the server failed"):
        run(routes, lambda c: c.chat("llama3.2", USER))


def test_error_object_in_the_stream() -> None:
    error = {
        "error": {
            "code": 400,
            "message": "request exceeds the context size",
            "type": "exceed_context_size_error",
        }
    }
    steps = [event({"content": "2"}), b"data: " + json.dumps(error).encode() + b"\n\n"]
    with pytest.raises(OllamaStreamError) as info:
        chat_with(steps)
    assert info.value.error == "request exceeds the context size"
    assert info.value.chunks == 1


def test_cut_stream_is_incomplete() -> None:
    # What Ollama's /v1 does on a mid-stream model error: an empty chunk, then EOF.
    with pytest.raises(OllamaIncompleteStreamError, match=r"after 2 chunk\(s\)") as info:
        chat_with([event({"content": "2+2"}), event({"content": ""})])
    assert info.value.chunks == 2
    assert "--ollama-api native" in str(info.value)


def test_dropped_connection_is_incomplete() -> None:
    with pytest.raises(OllamaIncompleteStreamError, match="connection was closed"):
        chat_with([event({"content": "2+2"}), b'data: {"choi', CLOSE])


def test_non_sse_response_is_incomplete_with_a_hint() -> None:
    ndjson = b'{"message":{"content":"x"},"done":false}\n'
    with pytest.raises(OllamaIncompleteStreamError, match="no SSE 'data:' events"):
        chat_with([ndjson], content_type="application/x-ndjson")


def test_malformed_data_line() -> None:
    with pytest.raises(OllamaMalformedResponseError) as info:
        chat_with([event({"content": "2"}), b"data: {not json\n\n", DONE])
    assert info.value.line == b"{not json"
    assert info.value.line_number == 2


def test_no_first_chunk_in_time() -> None:
    with pytest.raises(OllamaTimeoutError, match="no first chunk") as info:
        chat_with([1.0, *OLLAMA_V1], timeout=0.2)
    assert info.value.phase == "first chunk"


def test_no_next_chunk_in_time() -> None:
    with pytest.raises(OllamaTimeoutError, match="no next chunk") as info:
        chat_with([event({"content": "2"}), 1.0, *OLLAMA_V1], timeout=0.2)
    assert info.value.phase == "next chunk"
    assert info.value.seconds == 0.2


def test_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    async def go() -> None:
        async with OpenAIClient(f"127.0.0.1:{port}") as client:
            await client.chat("llama3.2", USER)

    with pytest.raises(OllamaConnectionError, match="is not reachable"):
        asyncio.run(go())


def sse_response(body: bytes) -> bytes:
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Keep-Alive: timeout=5, max=100\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"


@asynccontextmanager
async def raw_server(answer_per_connection: int) -> AsyncIterator[tuple[str, list[int]]]:
    """A bare HTTP/1.1 server that answers ``answer_per_connection`` requests per connection
    with an SSE stream, then closes the connection when the next request arrives (without
    answering it), as a server that ignores its own ``Keep-Alive`` does.

    Yields the URL and ``[connections, requests]`` counters.
    """
    counts = [0, 0]
    response = sse_response(b"".join(s for s in OLLAMA_V1 if isinstance(s, bytes)))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counts[0] += 1
        answered = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                counts[1] += 1
                if answered == answer_per_connection:
                    break
                writer.write(response)
                await writer.drain()
                answered += 1
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", counts
    finally:
        server.close()
        await server.wait_closed()


def test_a_request_meeting_a_closed_keep_alive_connection_is_sent_again() -> None:
    async def go() -> tuple[list[Measurement], list[int]]:
        async with raw_server(1) as (url, counts), OpenAIClient(url) as client:
            first = await client.chat("llama3.2", USER)
            second = await client.chat("llama3.2", USER)
            return [first, second], counts

    measurements, (connections, requests) = asyncio.run(go())
    assert [m.text for m in measurements] == ["2+2 is 4."] * 2
    assert (connections, requests) == (2, 3)  # the second request went out twice


def test_a_server_that_never_answers_is_tried_twice_only() -> None:
    async def go() -> list[int]:
        async with raw_server(0) as (url, counts), OpenAIClient(url) as client:
            with pytest.raises((OllamaIncompleteStreamError, OllamaConnectionError)):
                await client.chat("llama3.2", USER)
            return counts

    assert asyncio.run(go()) == [2, 2]


# --------------------------------------------------------------------------- models, version


def test_installed_models_and_version() -> None:
    models = {
        "object": "list",
        "data": [
            {"id": "llama3.2:latest", "object": "model", "owned_by": "library"},
            {"id": "smollm2:135m", "object": "model", "meta": {"size": 96576768}},
        ],
    }
    routes = {
        ("GET", "/v1/models"): reply(200, json.dumps(models).encode()),
        ("GET", "/api/version"): reply(200, b'{"version":"0.33.0"}'),
    }

    async def call(client: OpenAIClient) -> tuple[list[Any], str]:
        return await client.installed_models(), await client.version()

    installed, version = run(routes, call)
    assert [(m.name, m.size) for m in installed] == [
        ("llama3.2:latest", None),
        ("smollm2:135m", 96576768),
    ]
    assert version == "0.33.0"


def test_version_is_empty_without_a_version_endpoint() -> None:
    assert run({}, lambda c: c.version()) == ""
    routes = {("GET", "/version"): reply(200, b'{"version":"0.9.1"}')}
    assert run(routes, lambda c: c.version()) == "0.9.1"


def test_data_lines_without_blank_lines_between_them_are_separate_chunks() -> None:
    glued = b"".join(
        e.removesuffix(b"\n") for e in (event({"content": "a"}), event({"content": "b"}))
    )
    m = chat_with([glued + b"\n", *OLLAMA_V1[2:]])
    assert m.text == "ab"
    assert m.chunks == 4


def test_json_answer_to_a_stream_request_is_one_chunk() -> None:
    completion = {
        "choices": [{"index": 0, "message": {"content": "4"}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
    m = chat_with([json.dumps(completion).encode()], content_type="application/json")
    assert m.stream
    assert (m.text, m.chunks, m.eval_count, m.done_reason) == ("4", 1, 3, "stop")


def test_sse_error_event_type() -> None:
    steps = [b'event: error\ndata: {"message": "overloaded"}\n\n']
    with pytest.raises(OllamaStreamError, match="overloaded") as info:
        chat_with(steps)
    assert info.value.chunks == 0


# --------------------------------------------------------------------------- the emulator's /v1


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=("llama3.2", "qwen2.5:0.5b")) as server:
        yield server


def fake_chat(url: str, model: str = "llama3.2", timeout: float = 30.0, **kw: Any) -> Any:
    async def go() -> Measurement:
        async with OpenAIClient(url, timeout=timeout) as client:
            return await client.chat(model, USER, **kw)

    return asyncio.run(go())


def test_emulator_stream_text_and_usage(fake: FakeOllama) -> None:
    fake.profile("llama3.2").response = "Two plus two is four."
    fake.profile("llama3.2").itl_ms = 2
    m = fake_chat(fake.url, options={"num_predict": 64, "temperature": 0})
    assert m.api == "openai"
    assert m.text == "Two plus two is four."
    assert m.done_reason == "stop"
    assert m.eval_count is not None
    assert m.eval_count > 1
    assert m.prompt_eval_count is not None
    assert m.tokens_per_s is None  # Ollama's /v1 exposes no durations
    assert m.eval_ms is None
    assert m.ttft_ms is not None
    assert m.ttft_ms <= m.total_ms
    assert len(m.itl_ms) == m.chunks - 3  # role+content first chunk .. finish, usage
    body = next(r for r in fake.requests if r["path"] == "/v1/chat/completions")["body"]
    assert body["max_tokens"] == 64
    assert body["stream_options"] == {"include_usage": True}


def test_emulator_generate_and_thinking(fake: FakeOllama) -> None:
    fake.add_model("thinker", thinking="Add them.", response="4")

    async def go() -> Measurement:
        async with OpenAIClient(fake.url) as client:
            return await client.generate("thinker", "2+2?", system="Be brief.")

    m = asyncio.run(go())
    assert (m.endpoint, m.text, m.thinking) == ("generate", "4", "Add them.")
    assert m.ttft_thinking_ms is not None
    assert m.ttft_content_ms is not None
    assert m.ttft_thinking_ms <= m.ttft_content_ms


def test_emulator_non_streamed(fake: FakeOllama) -> None:
    m = fake_chat(fake.url, stream=False)
    assert (m.stream, m.chunks, m.text) == (False, 1, "2 + 2 equals 4.")
    assert m.eval_count is not None
    assert m.tokens_per_s is None


def test_emulator_missing_model(fake: FakeOllama) -> None:
    with pytest.raises(OllamaModelNotFoundError) as info:
        fake_chat(fake.url, model="nope")
    assert info.value.model == "nope"


def test_emulator_error_before_output_is_http_500(fake: FakeOllama) -> None:
    fake.set_fault("llama3.2", Fault(error_after=0, message="runner crashed"))
    with pytest.raises(OllamaHTTPError, match="HTTP 500: runner crashed"):
        fake_chat(fake.url)


def test_emulator_mid_stream_error_is_incomplete(fake: FakeOllama) -> None:
    # Ollama's /v1 turns the error line into an empty chunk and ends without [DONE].
    fake.set_fault("llama3.2", Fault(error_after=2))
    with pytest.raises(OllamaIncompleteStreamError, match="--ollama-api native"):
        fake_chat(fake.url)


@pytest.mark.parametrize("abort", [False, True])
def test_emulator_cut_stream_is_incomplete(fake: FakeOllama, abort: bool) -> None:
    fake.set_fault("llama3.2", Fault(cut_after=2, cut_abort=abort))
    with pytest.raises(OllamaIncompleteStreamError) as info:
        fake_chat(fake.url)
    assert info.value.chunks >= 2


def test_emulator_malformed_event(fake: FakeOllama) -> None:
    fake.set_fault("llama3.2", Fault(malformed_after=1))
    with pytest.raises(OllamaMalformedResponseError):
        fake_chat(fake.url)


def test_emulator_stall_times_out(fake: FakeOllama) -> None:
    fake.set_fault("llama3.2", Fault(stall_after=0, stall_s=1.0))
    with pytest.raises(OllamaTimeoutError) as info:
        fake_chat(fake.url, timeout=0.2)
    assert info.value.phase == "first chunk"


def test_emulator_models_and_version(fake: FakeOllama) -> None:
    async def go() -> tuple[list[Any], str]:
        async with OpenAIClient(fake.url + "/v1") as client:
            return await client.installed_models(), await client.version()

    installed, version = asyncio.run(go())
    assert sorted(m.name for m in installed) == ["llama3.2:latest", "qwen2.5:0.5b"]
    assert version


# --------------------------------------------------------------------------- real llama.cpp


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    pytest.importorskip("xllamacpp")
    from pytest_ollama_bench.server.llamacpp import LlamaCppUnavailableError
    from pytest_ollama_bench.server.llamacpp import start_llamacpp_http_server

    try:
        server = start_llamacpp_http_server(None, 0)
    except LlamaCppUnavailableError as exc:
        pytest.skip(str(exc))
    with server:
        yield server.url


def test_real_llamacpp_server_gives_timings(llama_server: str) -> None:
    options = {"num_predict": 4, "temperature": 0, "seed": 1}

    async def go() -> tuple[list[Measurement], list[Any]]:
        async with OpenAIClient(llama_server) as client:
            rounds = [await client.chat("smollm2:135m", USER, options=options) for _ in (1, 2)]
            rounds.append(await client.chat("smollm2:135m", USER, options=options, stream=False))
            return rounds, await client.installed_models()

    rounds, installed = asyncio.run(go())
    for m in rounds:
        assert m.eval_count == 4
        assert m.done_reason == "length"
        assert m.tokens_per_s is not None
        assert m.prompt_tokens_per_s is not None
        assert m.text
    assert rounds[0].text == rounds[1].text == rounds[2].text
    assert [m.name for m in installed] == ["smollm2:135m"]
