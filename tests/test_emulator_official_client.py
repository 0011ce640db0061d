"""The official ``ollama`` Python client against the emulator: it must parse everything."""

from __future__ import annotations

from collections.abc import AsyncIterator

import ollama
import pytest
import pytest_asyncio

from pytest_ollama_bench.server import OllamaEmulator
from pytest_ollama_bench.server import SimulatedEngine
from pytest_ollama_bench.testing import Fault
from pytest_ollama_bench.testing import ModelProfile

USER = [{"role": "user", "content": "What is 2 + 2?"}]
ANSWER = "2 + 2 equals 4."


@pytest_asyncio.fixture
async def emu() -> AsyncIterator[OllamaEmulator]:
    engine = SimulatedEngine(
        [
            ModelProfile("llama3.2", itl_ms=1),
            ModelProfile("qwen3:0.6b", thinking="Let me add.", response="4"),
        ]
    )
    async with OllamaEmulator(engine, close_engine=True) as emulator:
        yield emulator


@pytest_asyncio.fixture
async def client(emu: OllamaEmulator) -> AsyncIterator[ollama.AsyncClient]:
    async with ollama.AsyncClient(host=emu.url) as official:
        yield official


@pytest.mark.asyncio
async def test_chat_stream(client: ollama.AsyncClient) -> None:
    parts = [part async for part in await client.chat("llama3.2", messages=USER, stream=True)]
    assert "".join(part.message.content or "" for part in parts) == ANSWER
    final = parts[-1]
    assert final.done is True
    assert final.done_reason == "stop"
    assert final.eval_count == 5
    assert final.prompt_eval_count is not None
    assert final.prompt_eval_count > 0
    assert final.total_duration is not None
    assert final.load_duration is not None
    assert final.eval_duration is not None
    assert final.eval_duration > 0
    assert all(part.model == "llama3.2" for part in parts)


@pytest.mark.asyncio
async def test_chat_thinking_and_non_stream(client: ollama.AsyncClient) -> None:
    parts = [part async for part in await client.chat("qwen3:0.6b", messages=USER, stream=True)]
    assert "".join(part.message.thinking or "" for part in parts) == "Let me add."
    whole = await client.chat("qwen3:0.6b", messages=USER, think=False)
    assert whole.message.content == "4"
    assert whole.message.thinking is None
    assert whole.eval_count == 1


@pytest.mark.asyncio
async def test_generate(client: ollama.AsyncClient) -> None:
    parts = [part async for part in await client.generate("llama3.2", "2+2?", stream=True)]
    assert "".join(part.response for part in parts) == ANSWER
    assert parts[-1].context
    assert parts[-1].eval_count == 5
    whole = await client.generate("llama3.2", "2+2?", options={"num_predict": 2})
    assert (whole.response, whole.done_reason) == ("2 +", "length")


@pytest.mark.asyncio
async def test_missing_model_raises_404(client: ollama.AsyncClient) -> None:
    stream = await client.chat("nope", messages=USER, stream=True)
    with pytest.raises(ollama.ResponseError) as streamed:
        await anext(stream)
    assert streamed.value.status_code == 404
    assert streamed.value.error == "model 'nope' not found"
    with pytest.raises(ollama.ResponseError) as plain:
        await client.generate("nope:7b", "hi")
    assert plain.value.status_code == 404
    assert plain.value.error == "model 'nope:7b' not found"


@pytest.mark.asyncio
async def test_mid_stream_error_raises(emu: OllamaEmulator, client: ollama.AsyncClient) -> None:
    emu.set_fault("llama3.2", Fault(error_after=2, message="CUDA error: out of memory"))
    received: list[str] = []

    async def consume() -> None:
        async for part in await client.chat("llama3.2", messages=USER, stream=True):
            received.append(part.message.content or "")

    with pytest.raises(ollama.ResponseError) as info:
        await consume()
    assert received == ["2", " +"]
    assert info.value.error == "CUDA error: out of memory"
    assert info.value.status_code == -1


@pytest.mark.asyncio
async def test_queue_full_raises_503(emu: OllamaEmulator, client: ollama.AsyncClient) -> None:
    emu.set_fault("llama3.2", Fault(status=503, times=1))
    with pytest.raises(ollama.ResponseError) as info:
        await client.chat("llama3.2", messages=USER)
    assert info.value.status_code == 503
    assert (await client.chat("llama3.2", messages=USER)).message.content == ANSWER


@pytest.mark.asyncio
async def test_list_ps_show(client: ollama.AsyncClient) -> None:
    listed = await client.list()
    assert [m.model for m in listed.models] == ["qwen3:0.6b", "llama3.2:latest"]
    assert listed.models[1].details is not None
    assert listed.models[1].details.family == "llama"
    assert listed.models[1].modified_at is not None
    assert (await client.ps()).models == []
    await client.chat("llama3.2", messages=[])  # load only
    running = await client.ps()
    assert [m.model for m in running.models] == ["llama3.2:latest"]
    assert running.models[0].expires_at is not None
    assert running.models[0].context_length == 4096
    shown = await client.show("llama3.2")
    assert shown.capabilities == ["completion"]
    assert shown.modelinfo is not None
    assert shown.modelinfo["general.architecture"] == "llama"
    assert shown.details is not None
    assert shown.details.parameter_size == "3.2B"
    with pytest.raises(ollama.ResponseError) as info:
        await client.show("nope")
    assert (info.value.status_code, info.value.error) == (404, "model 'nope:latest' not found")
