"""The Ollama emulator on real loopback sockets: the exact wire, errors, faults and timings."""

from __future__ import annotations

import asyncio
import io
import itertools
import json
import re
import select
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from pytest_ollama_bench.names import display_name as normalize_model_name
from pytest_ollama_bench.server import EngineError
from pytest_ollama_bench.server import Final
from pytest_ollama_bench.server import GenerationRequest
from pytest_ollama_bench.server import ModelCard
from pytest_ollama_bench.server import OllamaEmulator
from pytest_ollama_bench.server import Piece
from pytest_ollama_bench.server import SimulatedEngine
from pytest_ollama_bench.server._go import parse_duration
from pytest_ollama_bench.server.faults import QUEUE_FULL_MESSAGE
from pytest_ollama_bench.testing import FakeOllama
from pytest_ollama_bench.testing import Fault
from pytest_ollama_bench.testing import ModelProfile

pytest_plugins = ["pytest_ollama_bench.testing"]

CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
CHAT_KEYS = ["model", "created_at", "message", "done"]
GENERATE_KEYS = ["model", "created_at", "response", "done"]
METRICS = [
    "total_duration",
    "load_duration",
    "prompt_eval_count",
    "prompt_eval_duration",
    "eval_count",
    "eval_duration",
]
USER = [{"role": "user", "content": "What is 2 + 2?"}]
ANSWER = "2 + 2 equals 4."


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[OllamaEmulator]:
    engine = SimulatedEngine(
        [
            ModelProfile("llama3.2"),
            ModelProfile("qwen3:0.6b", thinking="Let me add.", response="4"),
        ]
    )
    async with OllamaEmulator(engine, record_timings=True, close_engine=True) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "")

    def json(self) -> Any:
        return json.loads(self.body)

    def lines(self) -> list[dict[str, Any]]:
        text = self.body.decode()
        assert text.endswith("\n")
        assert "\n\n" not in text
        return [json.loads(line) for line in text.splitlines()]


async def call(
    http: aiohttp.ClientSession, emu: OllamaEmulator, method: str, path: str, body: Any = None
) -> Reply:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    async with http.request(method, emu.url + path, data=data) as response:
        return Reply(response.status, dict(response.headers), await response.read())


async def chat(http: aiohttp.ClientSession, emu: OllamaEmulator, **body: Any) -> Reply:
    return await call(http, emu, "POST", "/api/chat", {"messages": USER, **body})


def text_of(chunks: list[dict[str, Any]]) -> str:
    return "".join(chunk["message"]["content"] for chunk in chunks)


# -- plain endpoints ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_root_get_and_head(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    got = await call(http, emu, "GET", "/")
    assert (got.status, got.body) == (200, b"Ollama is running")
    assert got.content_type == "text/plain; charset=utf-8"
    head = await call(http, emu, "HEAD", "/")
    assert (head.status, head.body) == (200, b"")
    assert head.headers["Content-Length"] == "17"


@pytest.mark.asyncio
async def test_gin_404_and_405(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    missing = await call(http, emu, "GET", "/api/nope")
    assert (missing.status, missing.body, missing.content_type) == (
        404,
        b"404 page not found",
        "text/plain",
    )
    wrong = await call(http, emu, "GET", "/api/chat")
    assert (wrong.status, wrong.body, wrong.content_type) == (
        405,
        b"405 method not allowed",
        "text/plain",
    )
    assert (await call(http, emu, "POST", "/api/tags")).status == 405
    assert (await call(http, emu, "HEAD", "/api/ps")).status == 405


@pytest.mark.asyncio
async def test_version(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    got = await call(http, emu, "GET", "/api/version")
    assert got.body == b'{"version":"0.33.0"}'
    assert got.content_type == "application/json; charset=utf-8"
    assert (await call(http, emu, "HEAD", "/api/version")).status == 200


@pytest.mark.asyncio
async def test_tags(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    models = (await call(http, emu, "GET", "/api/tags")).json()["models"]
    assert [m["name"] for m in models] == ["qwen3:0.6b", "llama3.2:latest"]  # newest first
    first = models[1]
    assert list(first) == [
        "name",
        "model",
        "modified_at",
        "size",
        "digest",
        "details",
        "capabilities",
    ]
    assert first["model"] == first["name"]
    assert re.fullmatch(r"[0-9a-f]{64}", first["digest"])
    assert list(first["details"]) == [
        "parent_model",
        "format",
        "family",
        "families",
        "parameter_size",
        "quantization_level",
        "context_length",
    ]
    assert models[0]["capabilities"] == ["completion", "thinking"]
    assert (await call(http, emu, "HEAD", "/api/tags")).body == b""


@pytest.mark.asyncio
async def test_ps_load_and_unload(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    assert (await call(http, emu, "GET", "/api/ps")).json() == {"models": []}
    loaded = await chat(http, emu, model="llama3.2", messages=[])
    assert loaded.content_type == "application/json; charset=utf-8"
    obj = loaded.json()
    assert list(obj) == ["model", "created_at", "message", "done", "done_reason"]
    assert obj["message"] == {"role": "assistant", "content": ""}
    assert (obj["done"], obj["done_reason"]) == (True, "load")
    running = (await call(http, emu, "GET", "/api/ps")).json()["models"]
    assert [m["name"] for m in running] == ["llama3.2:latest"]
    assert list(running[0]) == [
        "name",
        "model",
        "size",
        "digest",
        "details",
        "expires_at",
        "size_vram",
        "context_length",
    ]
    gen = await call(
        http, emu, "POST", "/api/generate", {"model": "llama3.2", "prompt": "", "keep_alive": 0}
    )
    assert gen.json()["done_reason"] == "unload"
    assert list(gen.json()) == ["model", "created_at", "response", "done", "done_reason"]
    assert (await call(http, emu, "GET", "/api/ps")).json() == {"models": []}


@pytest.mark.asyncio
async def test_keep_alive_zero_unloads_after_request(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    assert (await chat(http, emu, model="llama3.2", keep_alive="0s")).status == 200
    assert (await call(http, emu, "GET", "/api/ps")).json() == {"models": []}
    assert (await chat(http, emu, model="llama3.2", keep_alive=-1)).status == 200
    (model,) = (await call(http, emu, "GET", "/api/ps")).json()["models"]
    assert model["expires_at"] > "2200"


@pytest.mark.asyncio
async def test_show(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    shown = (await call(http, emu, "POST", "/api/show", {"model": "LLAMA3.2"})).json()
    assert list(shown) == [
        "modelfile",
        "parameters",
        "template",
        "details",
        "model_info",
        "capabilities",
        "modified_at",
    ]
    assert shown["capabilities"] == ["completion"]
    legacy = await call(http, emu, "POST", "/api/show", {"name": "llama3.2"})
    assert legacy.status == 200


# -- streaming wire ----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chat_stream_wire(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    got = await chat(http, emu, model="LLaMA3.2")
    assert got.status == 200
    assert got.content_type == "application/x-ndjson"
    chunks = got.lines()
    *pieces, final = chunks
    assert len(pieces) == 5
    for chunk in pieces:
        assert list(chunk) == CHAT_KEYS
        assert list(chunk["message"]) == ["role", "content"]
        assert chunk["model"] == "LLaMA3.2"  # echoed verbatim
        assert CREATED_AT.match(chunk["created_at"])
        assert chunk["done"] is False
    assert text_of(chunks) == ANSWER
    assert list(final) == [*CHAT_KEYS, "done_reason", *METRICS]
    assert final["message"] == {"role": "assistant", "content": ""}
    assert final["done_reason"] == "stop"
    assert final["eval_count"] == 5
    assert all(isinstance(final[key], int) and final[key] > 0 for key in METRICS)


@pytest.mark.asyncio
async def test_generate_stream_wire(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    got = await call(http, emu, "POST", "/api/generate", {"model": "llama3.2", "prompt": "2+2?"})
    *pieces, final = got.lines()
    assert all(list(chunk) == GENERATE_KEYS for chunk in pieces)
    assert "".join(chunk["response"] for chunk in pieces) == ANSWER
    assert list(final) == [*GENERATE_KEYS, "done_reason", "context", *METRICS]
    assert final["response"] == ""
    assert all(isinstance(token, int) for token in final["context"])
    assert len(final["context"]) == final["prompt_eval_count"] + final["eval_count"]
    raw = await call(
        http, emu, "POST", "/api/generate", {"model": "llama3.2", "prompt": "2+2?", "raw": True}
    )
    assert "context" not in raw.lines()[-1]


@pytest.mark.asyncio
async def test_zero_metrics_are_omitted(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    nothing = (await chat(http, emu, model="llama3.2", options={"num_predict": 0})).lines()
    assert len(nothing) == 1
    assert nothing[0]["done_reason"] == "length"
    assert "eval_count" not in nothing[0]
    assert "eval_duration" not in nothing[0]
    emu_engine = emu.engine
    assert isinstance(emu_engine, SimulatedEngine)
    emu_engine.profile("llama3.2").tokens = ["four"]
    one = (await chat(http, emu, model="llama3.2")).lines()[-1]
    assert one["eval_count"] == 1
    assert "eval_duration" not in one  # first token to last token: zero


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "name", ["llama3.2", "llama3.2:latest", "LLAMA3.2:Latest", "library/llama3.2", "Llama3.2 "]
)
async def test_model_names_match_case_insensitively(
    emu: OllamaEmulator, http: aiohttp.ClientSession, name: str
) -> None:
    got = await chat(http, emu, model=name, stream=False)
    assert got.status == 200
    assert got.json()["model"] == name


@pytest.mark.asyncio
async def test_stream_false(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    got = await chat(http, emu, model="llama3.2", stream=False)
    assert got.content_type == "application/json; charset=utf-8"
    obj = got.json()
    assert list(obj) == [*CHAT_KEYS, "done_reason", *METRICS]
    assert obj["message"]["content"] == ANSWER
    gen = await call(
        http,
        emu,
        "POST",
        "/api/generate",
        {"model": "qwen3:0.6b", "prompt": "2+2", "stream": False},
    )
    obj = gen.json()
    assert list(obj)[:5] == ["model", "created_at", "response", "thinking", "done"]
    assert (obj["response"], obj["thinking"]) == ("4", "Let me add.")


@pytest.mark.asyncio
async def test_thinking_model(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    chunks = (await chat(http, emu, model="qwen3:0.6b")).lines()
    thinking = [c for c in chunks if c["message"].get("thinking")]
    assert [c["message"]["thinking"] for c in thinking] == ["Let", " me", " add."]
    assert list(thinking[0]["message"]) == ["role", "content", "thinking"]
    assert thinking[0]["message"]["content"] == ""
    assert text_of(chunks) == "4"
    assert chunks[-1]["eval_count"] == 4  # thinking tokens count
    off = (await chat(http, emu, model="qwen3:0.6b", think=False)).lines()
    assert not any("thinking" in c["message"] for c in off)
    assert off[-1]["eval_count"] == 1


@pytest.mark.asyncio
async def test_num_predict_and_stop(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    capped = (await chat(http, emu, model="llama3.2", options={"num_predict": 2})).lines()
    assert text_of(capped) == "2 +"
    assert (capped[-1]["done_reason"], capped[-1]["eval_count"]) == ("length", 2)
    stopped = (await chat(http, emu, model="llama3.2", options={"stop": ["equals"]})).lines()
    assert text_of(stopped) == "2 + 2 "
    assert stopped[-1]["done_reason"] == "stop"


# -- errors ------------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/chat", b"  \n", 400, "missing request body"),
        (
            "/api/chat",
            b"{bad",
            400,
            "invalid character 'b' looking for beginning of object key string",
        ),
        ("/api/chat", b'{"model": "x"', 400, "unexpected EOF"),
        (
            "/api/chat",
            b"[1]",
            400,
            "json: cannot unmarshal array into Go value of type api.ChatRequest",
        ),
        (
            "/api/chat",
            {"model": 5},
            400,
            "json: cannot unmarshal number into Go struct field ChatRequest.model of type string",
        ),
        ("/api/chat", {"model": ""}, 400, "model is required"),
        ("/api/chat", {"model": "bad name!"}, 400, "invalid model name"),
        ("/api/generate", {"model": ""}, 404, "model '' not found"),
        ("/api/chat", {"model": "nope", "messages": USER}, 404, "model 'nope' not found"),
        ("/api/generate", {"model": "Nope:7B", "prompt": "x"}, 404, "model 'Nope:7B' not found"),
        (
            "/api/chat",
            {"model": "Llama3.2", "messages": USER, "think": True},
            400,
            '"Llama3.2" does not support thinking',
        ),
        (
            "/api/chat",
            {"model": "llama3.2", "think": "loud"},
            400,
            'invalid think value: "loud" (must be "high", "medium", "low", "max", true, or false)',
        ),
        (
            "/api/chat",
            {"model": "llama3.2", "keep_alive": "5"},
            400,
            'time: missing unit in duration "5"',
        ),
        (
            "/api/chat",
            {"model": "llama3.2", "messages": USER, "options": {"num_predict": "x"}},
            500,
            'option "num_predict" must be of type integer',
        ),
        (
            "/api/generate",
            {"model": "llama3.2", "prompt": "x", "raw": True, "system": "s"},
            400,
            "raw mode does not support template, system, or context",
        ),
        ("/api/show", {"model": "nope"}, 404, "model 'nope:latest' not found"),
        ("/api/show", {}, 400, "model is required"),
        (
            "/api/chat",
            {"model": "llama3.2", "top_logprobs": 21},
            400,
            "top_logprobs must be between 0 and 20",
        ),
    ],
)
async def test_error_texts(
    emu: OllamaEmulator,
    http: aiohttp.ClientSession,
    path: str,
    body: Any,
    status: int,
    error: str,
) -> None:
    got = await call(http, emu, "POST", path, body)
    assert got.status == status
    assert got.content_type == "application/json; charset=utf-8"
    assert got.json() == {"error": error}


# -- faults ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_mid_stream_error_line(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    emu.set_fault("llama3.2", Fault(error_after=2, message="CUDA error: out of memory"))
    got = await chat(http, emu, model="llama3.2")
    assert got.status == 200
    assert got.content_type == "application/x-ndjson"
    lines = got.lines()
    assert len(lines) == 3
    assert text_of(lines[:2]) == "2 +"
    assert lines[2] == {"error": "CUDA error: out of memory"}
    assert not any(line.get("done") for line in lines)


@pytest.mark.asyncio
async def test_error_before_first_chunk_is_http_500(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    emu.set_fault("llama3.2", Fault(error_after=0))
    got = await chat(http, emu, model="llama3.2")
    assert got.status == 500
    assert got.json()["error"].startswith("an error was encountered while running the model: ")


@pytest.mark.asyncio
async def test_error_after_beyond_the_answer_replaces_done(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    emu.set_fault("llama3.2", Fault(error_after=99))
    lines = (await chat(http, emu, model="llama3.2")).lines()
    assert text_of(lines[:-1]) == ANSWER
    assert "error" in lines[-1]


@pytest.mark.asyncio
async def test_status_fault_times(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    emu.set_fault("LLAMA3.2:latest", Fault(status=503, times=2))
    for _ in range(2):
        busy = await chat(http, emu, model="llama3.2")
        assert busy.status == 503
        assert busy.json() == {"error": QUEUE_FULL_MESSAGE}
    assert (await chat(http, emu, model="llama3.2")).status == 200
    assert emu.faults == {}
    emu.set_fault("llama3.2", Fault(status=500, message="boom"))
    assert (await chat(http, emu, model="llama3.2", stream=False)).json() == {"error": "boom"}
    assert (await chat(http, emu, model="qwen3:0.6b")).status == 200  # other models unaffected


@pytest.mark.asyncio
async def test_cut_clean_and_abort(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    emu.set_fault("llama3.2", Fault(cut_after=1))
    lines = (await chat(http, emu, model="llama3.2")).lines()
    assert len(lines) == 1
    assert "error" not in lines[0]
    assert lines[0]["done"] is False
    emu.set_fault("llama3.2", Fault(cut_after=2, cut_abort=True))
    with pytest.raises(aiohttp.ClientPayloadError):
        await chat(http, emu, model="llama3.2")


@pytest.mark.asyncio
async def test_malformed_line_then_continue(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    emu.set_fault("llama3.2", Fault(malformed_after=1))
    raw = (await chat(http, emu, model="llama3.2")).body.decode().splitlines()
    assert len(raw) == 7
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw[1])
    chunks = [json.loads(line) for i, line in enumerate(raw) if i != 1]
    assert text_of(chunks) == ANSWER
    assert chunks[-1]["done"] is True


@pytest.mark.asyncio
async def test_stall(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    emu.set_fault("llama3.2", Fault(stall_after=1, stall_s=0.3))
    seq = len(emu.requests)
    lines = (await chat(http, emu, model="llama3.2")).lines()
    assert lines[-1]["done"] is True
    stamps = [ns for s, _, ns in emu.chunk_log if s == seq]
    gaps = [(b - a) / 1e9 for a, b in itertools.pairwise(stamps)]
    assert 0.3 <= gaps[0] < 3.0
    assert max(gaps[1:]) < 0.3


@pytest.mark.asyncio
async def test_stream_false_faults(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    emu.set_fault("llama3.2", Fault(error_after=2, times=1))
    failed = await chat(http, emu, model="llama3.2", stream=False)
    assert failed.status == 500
    emu.set_fault("llama3.2", Fault(malformed_after=0, times=1))
    broken = await chat(http, emu, model="llama3.2", stream=False)
    assert broken.status == 200
    with pytest.raises(json.JSONDecodeError):
        broken.json()
    emu.set_fault("llama3.2", Fault(cut_after=0, times=1))
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await chat(http, emu, model="llama3.2", stream=False)


def test_fault_validation() -> None:
    with pytest.raises(ValueError):
        Fault(status=200)
    with pytest.raises(ValueError):
        Fault(error_after=-1)
    with pytest.raises(ValueError):
        Fault(times=0)


# -- timings -----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_timings_follow_injected_delays(http: aiohttp.ClientSession) -> None:
    profile = ModelProfile(
        "llama3.2", response="one two three four five six", ttft_ms=60, itl_ms=20, load_ms=40
    )
    async with OllamaEmulator(SimulatedEngine([profile])) as emu:
        body = json.dumps({"model": "llama3.2", "messages": USER}).encode()
        sent = time.perf_counter()
        arrivals: list[float] = []
        async with http.post(emu.url + "/api/chat", data=body) as response:
            async for _ in response.content:
                arrivals.append(time.perf_counter())
        ttft = arrivals[0] - sent
        assert 0.1 <= ttft < 2.0  # load 40 ms + prompt 60 ms
        gaps = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals[:6])]
        assert all(5 <= gap <= 300 for gap in gaps), gaps
        assert 15 <= sum(gaps) / len(gaps) <= 200, gaps
        warm = (await chat(http, emu, model="llama3.2")).lines()[-1]
    cold_load = 40_000_000
    assert warm["load_duration"] < cold_load  # loaded: no load time
    assert warm["prompt_eval_duration"] >= 60_000_000
    assert 80_000_000 <= warm["eval_duration"] < 2_000_000_000
    parts = warm["load_duration"] + warm["prompt_eval_duration"] + warm["eval_duration"]
    assert warm["total_duration"] >= parts


@pytest.mark.asyncio
async def test_cold_load_duration(http: aiohttp.ClientSession) -> None:
    engine = SimulatedEngine([ModelProfile("llama3.2", load_ms=50)])
    async with OllamaEmulator(engine) as emu:
        cold = (await chat(http, emu, model="llama3.2", stream=False)).json()
        warm = (await chat(http, emu, model="llama3.2", stream=False)).json()
        await chat(http, emu, model="llama3.2", messages=[], keep_alive=0)
        again = (await chat(http, emu, model="llama3.2", stream=False)).json()
    assert cold["load_duration"] >= 50_000_000
    assert warm["load_duration"] < 50_000_000
    assert again["load_duration"] >= 50_000_000
    assert cold["total_duration"] >= cold["load_duration"]


@pytest.mark.asyncio
async def test_chunk_log(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    seq = len(emu.requests)
    await chat(http, emu, model="llama3.2")
    entries = [entry for entry in emu.chunk_log if entry[0] == seq]
    assert [index for _, index, _ in entries] == list(range(6))
    assert [ns for _, _, ns in entries] == sorted(ns for _, _, ns in entries)
    request = emu.requests[seq]
    assert request["method"] == "POST"
    assert request["path"] == "/api/chat"
    assert request["body"]["model"] == "llama3.2"


# -- OpenAI compatibility ----------------------------------------------------------------------


def sse_events(body: bytes) -> list[str]:
    text = body.decode()
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(event.startswith("data: ") for event in events)
    return [event[len("data: ") :] for event in events]


@pytest.mark.asyncio
async def test_v1_models(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    got = await call(http, emu, "GET", "/v1/models")
    assert got.content_type == "application/json"
    listing = got.json()
    assert list(listing) == ["object", "data"]
    assert listing["object"] == "list"
    assert [m["id"] for m in listing["data"]] == ["qwen3:0.6b", "llama3.2:latest"]
    assert list(listing["data"][0]) == ["id", "object", "created", "owned_by"]
    assert listing["data"][0]["owned_by"] == "library"
    one = (await call(http, emu, "GET", "/v1/models/llama3.2")).json()
    assert one["id"] == "llama3.2"
    missing = await call(http, emu, "GET", "/v1/models/nope")
    assert missing.status == 404
    assert missing.json()["error"]["type"] == "not_found_error"


@pytest.mark.asyncio
async def test_v1_chat_stream(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    body = {
        "model": "llama3.2",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 3,
    }
    got = await call(http, emu, "POST", "/v1/chat/completions", body)
    assert got.content_type == "text/event-stream"
    events = sse_events(got.body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    for chunk in chunks:
        assert list(chunk)[:6] == [
            "id",
            "object",
            "created",
            "model",
            "system_fingerprint",
            "choices",
        ]
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["id"] == chunks[0]["id"]
        assert re.fullmatch(r"chatcmpl-\d{1,3}", chunk["id"])
    deltas = [c["choices"][0]["delta"] for c in chunks[:-2]]
    assert deltas[0] == {"role": "assistant", "content": "2"}
    assert deltas[1:] == [{"content": " +"}, {"content": " 2"}]
    finish = chunks[-2]["choices"][0]
    assert finish == {"index": 0, "delta": {}, "finish_reason": "length"}
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    usage = chunks[-1]["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + 3
    assert not any(key.endswith("duration") for key in got.body.decode().split('"'))


@pytest.mark.asyncio
async def test_v1_reasoning_and_non_stream(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    body = {"model": "qwen3:0.6b", "messages": USER, "stream": True}
    events = sse_events((await call(http, emu, "POST", "/v1/chat/completions", body)).body)
    deltas = [json.loads(event)["choices"][0]["delta"] for event in events[:-1]]
    assert deltas[0] == {"role": "assistant", "content": "", "reasoning": "Let"}
    assert deltas[3] == {"content": "4"}
    got = await call(http, emu, "POST", "/v1/chat/completions", {**body, "stream": False})
    assert got.content_type == "application/json"
    completion = got.json()
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"] == {
        "role": "assistant",
        "content": "4",
        "reasoning": "Let me add.",
    }
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"]["completion_tokens"] == 4


@pytest.mark.asyncio
async def test_v1_errors(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    missing = await call(
        http, emu, "POST", "/v1/chat/completions", {"model": "nope", "messages": USER}
    )
    assert missing.status == 404
    assert missing.json() == {
        "error": {
            "message": "model 'nope' not found",
            "type": "not_found_error",
            "param": None,
            "code": None,
        }
    }
    empty = await call(http, emu, "POST", "/v1/chat/completions", {"model": "llama3.2"})
    assert empty.status == 400
    assert empty.json()["error"]["message"] == "[] is too short - 'messages'"
    assert empty.json()["error"]["type"] == "invalid_request_error"
    emu.set_fault("llama3.2", Fault(error_after=1))
    body = {"model": "llama3.2", "messages": USER, "stream": True}
    events = sse_events((await call(http, emu, "POST", "/v1/chat/completions", body)).body)
    assert "[DONE]" not in events
    assert json.loads(events[-1])["choices"][0]["delta"] == {"content": ""}


# -- FakeOllama, fixture, CLI ------------------------------------------------------------------


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def test_fake_ollama_sync_wrapper() -> None:
    with FakeOllama(response="hello there") as fake:
        assert fake.host == fake.url
        assert fake.url == f"http://127.0.0.1:{fake.port}"
        names = {m["name"] for m in get_json(fake.url + "/api/tags")["models"]}
        assert names == {"llama3.2:latest", "qwen2.5:0.5b"}
        body = {"model": "llama3.2", "messages": USER, "stream": False}
        assert post_json(fake.url + "/api/chat", body)["message"]["content"] == "hello there"
        fake.profile("llama3.2").response = "changed"
        assert post_json(fake.url + "/api/chat", body)["message"]["content"] == "changed"
        fake.add_model("phi3:mini", response="phi")
        phi = {**body, "model": "phi3:mini"}
        assert post_json(fake.url + "/api/chat", phi)["message"]["content"] == "phi"
        fake.remove_model("phi3:mini")
        fake.set_fault("llama3.2", Fault(status=503, times=1))
        with pytest.raises(urllib.error.HTTPError) as info:
            post_json(fake.url + "/api/chat", body)
        assert info.value.code == 503
        info.value.close()
        assert [r["path"] for r in fake.requests][-1] == "/api/chat"
    fake.stop()  # idempotent


def test_fake_ollama_rejects_unknown_profile_field() -> None:
    with pytest.raises(TypeError):
        FakeOllama(ttft=5)


def test_fake_ollama_fixture(fake_ollama: FakeOllama) -> None:
    names = [m["name"] for m in get_json(fake_ollama.url + "/api/tags")["models"]]
    assert sorted(names) == ["llama3.2:latest", "qwen2.5:0.5b"]
    assert fake_ollama.profile("qwen2.5:0.5b").ttft_ms == 0


def test_each_model_has_plausible_details_for_its_name(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    models = {m["name"]: m for m in get_json(fake_ollama.url + "/api/tags")["models"]}
    qwen, llama = models["qwen2.5:0.5b"], models["llama3.2:latest"]
    assert qwen["details"] == {
        "parent_model": "",
        "format": "gguf",
        "family": "qwen2",
        "families": ["qwen2"],
        "parameter_size": "494.03M",
        "quantization_level": "Q4_K_M",
        "context_length": 4096,
    }
    assert 250_000_000 < qwen["size"] < 500_000_000
    # llama3.2 as the reference's /api/tags example has it
    assert (llama["size"], llama["details"]["family"], llama["details"]["parameter_size"]) == (
        2_019_393_189,
        "llama",
        "3.2B",
    )
    shown = post_json(fake_ollama.url + "/api/show", {"model": "qwen2.5:0.5b"})
    assert shown["details"]["parameter_size"] == "494.03M"
    assert shown["model_info"]["general.architecture"] == "qwen2"
    assert shown["model_info"]["general.parameter_count"] == 494_030_000
    # a tag's size and quantization count; a profile's own details win
    fake_ollama.add_model("mistral-nemo:12b-instruct-2407-q8_0")
    fake_ollama.add_model("phi3:mini", parameter_size="3.8B", quantization_level="Q4_0")
    fake_ollama.add_model("mine", family="custom", size=1234)
    models = {m["name"]: m for m in get_json(fake_ollama.url + "/api/tags")["models"]}
    nemo = models["mistral-nemo:12b-instruct-2407-q8_0"]
    assert (nemo["details"]["parameter_size"], nemo["details"]["quantization_level"]) == (
        "12B",
        "Q8_0",
    )
    assert 12e9 < nemo["size"] < 14e9  # 8.5 bits per weight
    assert models["phi3:mini"]["details"]["family"] == "phi3"
    assert models["phi3:mini"]["details"]["quantization_level"] == "Q4_0"
    assert (models["mine:latest"]["details"]["family"], models["mine:latest"]["size"]) == (
        "custom",
        1234,
    )
    # and the run record of a benchmark on it says so
    pytester.makepyfile("def test_x(ollama_bench):\n    ollama_bench.chat('hi')\n")
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=qwen2.5:0.5b", "--ollama-json=r.json"
    )
    result.assert_outcomes(passed=1)
    (case,) = json.loads((pytester.path / "r.json").read_text())["cases"]
    assert case["model_details"]["family"] == "qwen2"
    assert case["model_details"]["parameter_size"] == "494.03M"


def test_fixture_through_pytest_plugins(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest('pytest_plugins = ["pytest_ollama_bench.testing"]\n')
    pytester.makepyfile(
        """
        import json
        import urllib.request

        def test_it(fake_ollama):
            with urllib.request.urlopen(fake_ollama.url + "/api/version") as response:
                assert json.load(response) == {"version": "0.33.0"}
        """
    )
    pytester.runpytest("-p", "no:cacheprovider", "-W", "error").assert_outcomes(passed=1)


def test_loopback_only() -> None:
    engine = SimulatedEngine(["llama3.2"])
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError):
            OllamaEmulator(engine, host=host)
    for host in ("127.0.0.1", "localhost", "::1"):
        OllamaEmulator(engine, host=host)


def test_cli_serves_until_sigint() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pytest_ollama_bench.testing",
            "--port",
            "0",
            "--model",
            "llama3.2",
            "--model",
            "qwen2.5:0.5b",
            "--itl-ms",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the emulator did not report that it listens"
        line = process.stdout.readline()
        match = re.fullmatch(
            r"Ollama emulator listening on (http://127\.0\.0\.1:\d+) "
            r"\(models: llama3\.2:latest, qwen2\.5:0\.5b\)\n",
            line,
        )
        assert match, line
        models = get_json(match.group(1) + "/api/tags")["models"]
        assert {m["name"] for m in models} == {"llama3.2:latest", "qwen2.5:0.5b"}
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


# -- helpers -----------------------------------------------------------------------------------


def test_names_and_durations() -> None:
    assert normalize_model_name("llama3.2") == "llama3.2:latest"
    assert normalize_model_name("registry.ollama.ai/library/Llama3.2:7b") == "Llama3.2:7b"
    assert normalize_model_name("mattw/pygmalion") == "mattw/pygmalion:latest"
    assert normalize_model_name("hf.co/bartowski/X-GGUF:Q4_K_M") == "hf.co/bartowski/X-GGUF:Q4_K_M"
    with pytest.raises(ValueError):
        normalize_model_name("bad name!")
    assert parse_duration("1h30m") == 5_400_000_000_000
    assert parse_duration("1.5s") == 1_500_000_000
    assert parse_duration("0") == 0
    with pytest.raises(ValueError, match='unknown unit "d"'):
        parse_duration("5d")


@pytest.mark.asyncio
async def test_concurrent_requests_queue_per_model(http: aiohttp.ClientSession) -> None:
    engine = SimulatedEngine([ModelProfile("llama3.2", ttft_ms=50, tokens=["a"])])
    async with OllamaEmulator(engine) as emu:
        started = time.perf_counter()
        replies = await asyncio.gather(*(chat(http, emu, model="llama3.2") for _ in range(3)))
        elapsed = time.perf_counter() - started
    assert all(reply.status == 200 for reply in replies)
    assert elapsed >= 0.15  # OLLAMA_NUM_PARALLEL=1: three 50 ms prompt phases in a row


@pytest.mark.asyncio
async def test_gin_routing_details(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    wrong = await call(http, emu, "POST", "/api/tags")
    assert wrong.headers["Allow"] == "HEAD, GET"
    assert (await call(http, emu, "GET", "/api/chat")).headers["Allow"] == "POST"
    async with http.get(emu.url + "/api/tags/", allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers["Location"] == "/api/tags"
    async with http.post(emu.url + "/api/chat/", allow_redirects=False) as response:
        assert response.status == 307
    foreign = await call_with_host(http, emu, "example.com")
    assert (foreign.status, foreign.body) == (403, b"")
    assert (await call_with_host(http, emu, "localhost:11434")).status == 200


async def call_with_host(http: aiohttp.ClientSession, emu: OllamaEmulator, host: str) -> Reply:
    async with http.get(emu.url + "/api/version", headers={"Host": host}) as response:
        return Reply(response.status, dict(response.headers), await response.read())


@pytest.mark.asyncio
async def test_large_prompt_is_accepted(emu: OllamaEmulator, http: aiohttp.ClientSession) -> None:
    prompt = "word " * 400_000  # 2 MB: no request size limit, like Ollama
    body = json.dumps({"model": "llama3.2", "prompt": prompt, "raw": True}).encode()
    async with http.post(emu.url + "/api/generate", data=io.BytesIO(body)) as response:
        got = Reply(response.status, dict(response.headers), await response.read())
    assert got.status == 200
    assert got.lines()[-1]["prompt_eval_count"] == 400_000


class FlakyEngine:
    """A minimal engine of its own (no unload support): two pieces, then a failure."""

    def __init__(self) -> None:
        self.card = ModelProfile("flaky").card()
        self.loads = 0

    def cards(self) -> list[ModelCard]:
        return [self.card]

    async def load(self, model: str) -> None:
        self.loads += 1

    def loaded(self) -> list[str]:
        return [self.card.name] if self.loads else []

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Piece | Final]:
        yield Piece(content="Once")
        yield Piece(content=" upon")
        raise EngineError("an error was encountered while running the model: CUDA error")

    async def aclose(self) -> None:
        self.loads = 0


@pytest.mark.asyncio
async def test_front_works_with_any_engine(http: aiohttp.ClientSession) -> None:
    engine = FlakyEngine()
    async with OllamaEmulator(engine) as emu:
        streamed = await chat(http, emu, model="flaky")
        assert streamed.status == 200
        lines = streamed.lines()
        assert text_of(lines[:2]) == "Once upon"
        assert lines[2] == {"error": "an error was encountered while running the model: CUDA error"}
        whole = await chat(http, emu, model="flaky", stream=False)
        assert whole.status == 500
        unloaded = await chat(http, emu, model="flaky", messages=[], keep_alive=0)
        assert unloaded.json()["done_reason"] == "unload"
        running = (await call(http, emu, "GET", "/api/ps")).json()["models"]
        assert [m["name"] for m in running] == ["flaky:latest"]  # no unload support: stays


@pytest.mark.asyncio
async def test_headers_wait_for_the_first_chunk_and_one_line_per_chunk() -> None:
    engine = SimulatedEngine([ModelProfile("llama3.2", ttft_ms=150, tokens=["a", "b"])])
    async with OllamaEmulator(engine) as emu:
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
        body = json.dumps({"model": "llama3.2", "messages": USER}).encode()
        head = (
            "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        sent = time.perf_counter()
        writer.write(head.encode() + body)
        first = await reader.read(1)
        waited = time.perf_counter() - sent
        raw = first + await reader.read()
        writer.close()
        await writer.wait_closed()
    assert waited >= 0.15  # nothing, not even the status line, before the first chunk
    headers, _, chunked = raw.partition(b"\r\n\r\n")
    assert headers.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Transfer-Encoding: chunked" in headers
    pieces: list[bytes] = []
    while chunked:
        size_line, _, chunked = chunked.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        pieces.append(chunked[:size])
        chunked = chunked[size + 2 :]
    assert len(pieces) == 3
    assert all(piece.count(b"\n") == 1 and piece.endswith(b"\n") for piece in pieces)


# -- prompt token counts and answer lengths (workloads) ----------------------------------------


@pytest.mark.asyncio
async def test_prompt_tokens_are_counted_roughly_as_a_bpe_tokenizer_counts_them(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    async def count(text: str) -> int:
        got = await chat(http, emu, model="llama3.2", messages=[{"role": "user", "content": text}])
        return int(got.lines()[-1]["prompt_eval_count"]) - 12  # the chat template and role

    assert await count("river stone light") == 3  # common words: one token each
    assert await count("Hello, world!") == 4  # punctuation marks are tokens of their own
    assert await count("internationalization") == 4  # a long word costs a token per 6 letters
    assert await count("in 2024: 12345 items") == 7  # numbers cost a token per 3 digits
    assert await count("  padded  ") == 1  # a message's ends are trimmed, as templates do


@pytest.mark.asyncio
async def test_ignore_eos_goes_on_to_num_predict_and_without_it_the_answer_ends(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    on = await chat(http, emu, model="llama3.2", options={"num_predict": 12, "ignore_eos": True})
    final = on.lines()[-1]
    assert (final["eval_count"], final["done_reason"]) == (12, "length")
    assert text_of(on.lines()[:-1]) == "2 + 2 equals 4. 2 + 2 equals 4. 2 +"
    off = await chat(http, emu, model="llama3.2", options={"num_predict": 12})
    assert (off.lines()[-1]["eval_count"], off.lines()[-1]["done_reason"]) == (5, "stop")
    emu.engine.profile("llama3.2").honours_ignore_eos = False  # type: ignore[attr-defined]
    ignored = await chat(
        http, emu, model="llama3.2", options={"num_predict": 12, "ignore_eos": True}
    )
    assert (ignored.lines()[-1]["eval_count"], ignored.lines()[-1]["done_reason"]) == (5, "stop")


@pytest.mark.asyncio
async def test_ignore_eos_without_a_cap_fills_the_context_and_honours_stop(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    emu.engine.profile("llama3.2").context_length = 40  # type: ignore[attr-defined]
    got = await chat(http, emu, model="llama3.2", options={"ignore_eos": True})
    final = got.lines()[-1]
    assert final["eval_count"] + final["prompt_eval_count"] == 40
    assert final["done_reason"] == "length"
    stopped = await chat(
        http, emu, model="llama3.2", options={"ignore_eos": True, "num_predict": 30, "stop": ["4"]}
    )
    assert (stopped.lines()[-1]["done_reason"], text_of(stopped.lines()[:-1])) == (
        "stop",
        "2 + 2 equals ",
    )


@pytest.mark.asyncio
async def test_openai_max_tokens_and_ignore_eos_reach_the_model(
    emu: OllamaEmulator, http: aiohttp.ClientSession
) -> None:
    body = {"model": "llama3.2", "messages": USER, "max_tokens": 9, "ignore_eos": True}
    got = await call(http, emu, "POST", "/v1/chat/completions", body)
    answer = got.json()
    assert answer["usage"]["completion_tokens"] == 9
    assert answer["choices"][0]["finish_reason"] == "length"
