"""Ollama's concurrency in the emulator: parallel slots per model, the wait queue, the 503.

Real sockets on 127.0.0.1; times are checked against injected delays with generous bounds.
"""

from __future__ import annotations

import asyncio
import json
import re
import select
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from pytest_ollama_bench.server import OllamaEmulator
from pytest_ollama_bench.server import SimulatedEngine
from pytest_ollama_bench.server import SlotLimits
from pytest_ollama_bench.server.cli import main
from pytest_ollama_bench.server.faults import QUEUE_FULL_MESSAGE
from pytest_ollama_bench.testing import FakeOllama
from pytest_ollama_bench.testing import ModelProfile

MS = 1_000_000  # ns


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def stream_chat(
    http: aiohttp.ClientSession, url: str, content: str, **body: Any
) -> dict[str, Any]:
    """One streamed chat: client TTFT (s), the final chunk, the status and error body."""
    payload = {"model": "llama3.2", "messages": [{"role": "user", "content": content}], **body}
    sent = time.perf_counter()
    first: float | None = None
    lines: list[dict[str, Any]] = []
    async with http.post(url + "/api/chat", data=json.dumps(payload).encode()) as response:
        if response.status != 200:
            return {
                "status": response.status,
                "content_type": response.headers.get("Content-Type"),
                "body": await response.read(),
            }
        async for raw in response.content:
            if first is None:
                first = time.perf_counter()
            lines.append(json.loads(raw))
    assert first is not None
    return {"status": 200, "ttft": first - sent, "final": lines[-1]}


def contents(emu: OllamaEmulator) -> dict[int, str]:
    """request_seq -> the user message it carried."""
    return {
        seq: request["body"]["messages"][0]["content"]
        for seq, request in enumerate(emu.requests)
        if request["path"] == "/api/chat" and request["body"].get("messages")
    }


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


# -- parallel slots ---------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_two_slots_four_requests_the_last_two_wait(http: aiohttp.ClientSession) -> None:
    # one request: 100 ms prompt phase + 4 gaps of 50 ms = 300 ms in its slot
    profile = ModelProfile(
        "llama3.2", tokens=["a", "b", "c", "d", "e"], ttft_ms=100, itl_ms=50, parallel=2
    )
    async with OllamaEmulator(SimulatedEngine([profile])) as emu:
        replies = await asyncio.gather(*(stream_chat(http, emu.url, f"r{i}") for i in range(4)))
        by_content = dict(zip((f"r{i}" for i in range(4)), replies, strict=True))
        names = contents(emu)
        records = {names[record.seq]: record for record in emu.slot_log}

    assert all(reply["status"] == 200 for reply in replies)
    assert emu.max_in_flight == {"llama3.2:latest": 2}
    ordered = sorted(records.values(), key=lambda record: record.queued_ns)
    first, later = ordered[:2], ordered[2:]
    assert {record.slot for record in first} == {0, 1}
    assert all(record.outcome == "done" for record in ordered)
    assert all(record.wait_ns == 0 for record in first)
    for record in later:
        assert record.waiting_ahead in (0, 1)
        assert record.in_flight == 2
        # a slot frees only when a first request's 300 ms of injected work are over
        assert record.wait_ns is not None
        assert record.wait_ns >= 250 * MS
        assert record.started_ns is not None
        assert record.started_ns >= min(r.ended_ns or 0 for r in first)
    served_first = {name for name, record in records.items() if record in first}
    waited = set(by_content) - served_first
    for name in waited:
        reply, record = by_content[name], records[name]
        final = reply["final"]
        assert record.wait_ns is not None
        # client TTFT: the wait (about one request) plus its own 100 ms prompt phase
        assert reply["ttft"] >= 0.35
        assert all(by_content[other]["ttft"] <= reply["ttft"] - 0.1 for other in served_first)
        # Ollama's split: the wait is in total_duration, not in load/prompt_eval/eval
        parts = final["load_duration"] + final["prompt_eval_duration"] + final["eval_duration"]
        assert final["total_duration"] >= parts + record.wait_ns
        assert final["load_duration"] < record.wait_ns
        assert final["prompt_eval_duration"] < record.wait_ns
        assert final["total_duration"] >= 550 * MS  # 300 ms waited + 300 ms of its own


@pytest.mark.asyncio
async def test_batch_slowdown_stretches_concurrent_streams(http: aiohttp.ClientSession) -> None:
    tokens = ["t"] * 6  # 5 gaps
    profiles = [
        ModelProfile("llama3.2", tokens=tokens, itl_ms=40, parallel=2, batch_slowdown=1.0),
        ModelProfile("ideal", tokens=tokens, itl_ms=40, parallel=2),
    ]
    async with OllamaEmulator(SimulatedEngine(profiles)) as emu:
        slowed = await asyncio.gather(*(stream_chat(http, emu.url, "x") for _ in range(2)))
        alone = await stream_chat(http, emu.url, "x")
        ideal = await asyncio.gather(
            *(stream_chat(http, emu.url, "x", model="ideal") for _ in range(2))
        )
    # two at once with batch_slowdown 1: each gap is 2 x 40 ms while both generate
    assert all(reply["final"]["eval_duration"] >= 350 * MS for reply in slowed)
    assert alone["final"]["eval_duration"] >= 190 * MS
    assert all(reply["final"]["eval_duration"] >= 190 * MS for reply in ideal)
    assert min(r["final"]["eval_duration"] for r in slowed) > alone["final"]["eval_duration"]
    assert min(r["final"]["eval_duration"] for r in slowed) > max(
        r["final"]["eval_duration"] for r in ideal
    )


def test_profile_validates_its_slot_fields() -> None:
    with pytest.raises(ValueError, match="parallel must be >= 1 or None"):
        ModelProfile("llama3.2", parallel=0)
    with pytest.raises(ValueError, match="max_queue must be >= 0 or None"):
        ModelProfile("llama3.2", max_queue=-1)
    with pytest.raises(ValueError, match="batch_slowdown must be >= 0"):
        ModelProfile("llama3.2", batch_slowdown=-0.5)
    assert ModelProfile("llama3.2").slot_limits() == SlotLimits(parallel=1, max_queue=512)


# -- the queue limit --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_full_queue_gets_ollamas_503(http: aiohttp.ClientSession) -> None:
    profile = ModelProfile("llama3.2", tokens=["a", "b"], ttft_ms=300, parallel=1, max_queue=1)
    async with OllamaEmulator(SimulatedEngine([profile])) as emu:
        running = asyncio.ensure_future(stream_chat(http, emu.url, "running"))
        await until(lambda: emu.slots.in_flight("llama3.2") == 1)
        waiting = asyncio.ensure_future(stream_chat(http, emu.url, "waiting"))
        await until(lambda: emu.slots.waiting("llama3.2") == 1)
        rejected = await stream_chat(http, emu.url, "rejected")
        whole = await http.post(
            emu.url + "/api/generate", json={"model": "llama3.2", "prompt": "x", "stream": False}
        )
        whole_body = await whole.read()
        v1 = await http.post(
            emu.url + "/v1/chat/completions",
            json={"model": "llama3.2", "messages": [{"role": "user", "content": "x"}]},
        )
        v1_body = await v1.json()
        assert emu.slots.waiting("llama3.2") == 1  # the rejected ones did not queue
        served = await asyncio.gather(running, waiting)
        after = await stream_chat(http, emu.url, "after")  # the queue drained: served again
        names = contents(emu)
        outcomes = {names.get(r.seq, "other"): r.outcome for r in emu.slot_log}

    assert rejected["status"] == 503
    assert rejected["content_type"] == "application/json; charset=utf-8"
    assert (
        rejected["body"]
        == json.dumps({"error": QUEUE_FULL_MESSAGE}, separators=(",", ":")).encode()
    )
    assert "  maximum pending requests exceeded" in QUEUE_FULL_MESSAGE  # Ollama's two spaces
    assert (whole.status, json.loads(whole_body)) == (503, {"error": QUEUE_FULL_MESSAGE})
    assert v1.status == 503
    assert v1_body == {
        "error": {"message": QUEUE_FULL_MESSAGE, "type": "api_error", "param": None, "code": None}
    }
    assert [reply["status"] for reply in served] == [200, 200]
    assert after["status"] == 200
    assert outcomes["running"] == outcomes["waiting"] == outcomes["after"] == "done"
    assert outcomes["rejected"] == "rejected"
    assert emu.slots.max_waiting == {"llama3.2:latest": 1}


@pytest.mark.asyncio
async def test_max_queue_zero_rejects_as_soon_as_the_slots_are_busy(
    http: aiohttp.ClientSession,
) -> None:
    profile = ModelProfile("llama3.2", tokens=["a"], ttft_ms=300, parallel=2, max_queue=0)
    async with OllamaEmulator(SimulatedEngine([profile])) as emu:
        replies = await asyncio.gather(*(stream_chat(http, emu.url, f"r{i}") for i in range(3)))
    assert sorted(reply["status"] for reply in replies) == [200, 200, 503]


@pytest.mark.asyncio
async def test_unlimited_parallel_and_queue(http: aiohttp.ClientSession) -> None:
    profile = ModelProfile("llama3.2", tokens=["a"], ttft_ms=200, parallel=None, max_queue=None)
    async with OllamaEmulator(SimulatedEngine([profile])) as emu:
        replies = await asyncio.gather(*(stream_chat(http, emu.url, f"r{i}") for i in range(6)))
    assert all(reply["status"] == 200 for reply in replies)
    assert emu.max_in_flight == {"llama3.2:latest": 6}
    assert sorted(record.slot for record in emu.slot_log) == list(range(6))


# -- clients that go away ---------------------------------------------------------------------


async def open_stream(
    emu: OllamaEmulator, content: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Send a streamed chat over a raw connection; return once the request is written."""
    reader, writer = await asyncio.open_connection("127.0.0.1", emu.port)
    body = json.dumps(
        {"model": "llama3.2", "messages": [{"role": "user", "content": content}]}
    ).encode()
    head = (
        "POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    return reader, writer


@pytest.mark.asyncio
async def test_a_client_leaving_mid_stream_frees_its_slot(http: aiohttp.ClientSession) -> None:
    # 200 tokens 50 ms apart: 10 s of stream unless the slot is freed when the client leaves
    profile = ModelProfile("llama3.2", tokens=["w"] * 200, itl_ms=50, parallel=1)
    async with OllamaEmulator(SimulatedEngine([profile])) as emu:
        reader, writer = await open_stream(emu, "leaves")
        assert b"200 OK" in await reader.readline()  # headers come with the first chunk
        waiting = asyncio.ensure_future(
            stream_chat(http, emu.url, "next", options={"num_predict": 2})
        )
        await until(lambda: emu.slots.waiting("llama3.2") == 1)
        left = time.perf_counter()
        writer.close()
        await writer.wait_closed()
        reply = await waiting
        served_after = time.perf_counter() - left
        names = contents(emu)
        records = {names[r.seq]: r for r in emu.slot_log}
        in_flight = emu.slots.in_flight("llama3.2")

    assert reply["status"] == 200
    assert served_after < 5.0  # far less than the 10 s the abandoned stream would have taken
    assert records["leaves"].outcome == "done"
    assert records["next"].slot == 0
    assert records["next"].outcome == "done"
    assert in_flight == 0


@pytest.mark.asyncio
async def test_a_client_leaving_the_queue_gives_up_its_place(http: aiohttp.ClientSession) -> None:
    profile = ModelProfile("llama3.2", tokens=["a", "b"], ttft_ms=400, parallel=1, max_queue=1)
    async with OllamaEmulator(SimulatedEngine([profile])) as emu:
        running = asyncio.ensure_future(stream_chat(http, emu.url, "running"))
        await until(lambda: emu.slots.in_flight("llama3.2") == 1)
        _, writer = await open_stream(emu, "gives up")
        await until(lambda: emu.slots.waiting("llama3.2") == 1)
        writer.close()
        await writer.wait_closed()
        await until(lambda: emu.slots.waiting("llama3.2") == 0)
        # its place is free again: this one queues instead of getting a 503
        queued = await asyncio.gather(running, stream_chat(http, emu.url, "queued"))
        names = contents(emu)
        records = {names[r.seq]: r for r in emu.slot_log}

    assert [reply["status"] for reply in queued] == [200, 200]
    assert records["gives up"].outcome == "abandoned"
    assert records["gives up"].slot is None
    assert records["gives up"].wait_ns is None
    assert records["queued"].outcome == "done"


# -- FakeOllama and the command line ----------------------------------------------------------


def test_fake_ollama_takes_slot_settings_and_reports_them() -> None:
    with FakeOllama(["llama3.2"], parallel=2, max_queue=0, ttft_ms=300, tokens=["a"]) as fake:
        assert fake.profile("llama3.2").slot_limits() == SlotLimits(parallel=2, max_queue=0)

        async def burst() -> list[int]:
            async with aiohttp.ClientSession() as http:
                replies = await asyncio.gather(
                    *(stream_chat(http, fake.url, f"r{i}") for i in range(3))
                )
            return sorted(reply["status"] for reply in replies)

        assert asyncio.run(burst()) == [200, 200, 503]
        assert fake.max_in_flight == {"llama3.2:latest": 2}
        assert [record.outcome for record in fake.slot_log].count("rejected") == 1
        fake.reset_slot_stats()
        assert fake.slot_log == []
        assert fake.max_in_flight == {"llama3.2:latest": 0}
        assert fake.slots.in_flight("LLAMA3.2:latest") == 0


def run_cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest_ollama_bench.server", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_parallel_and_max_queue() -> None:
    process = run_cli("--parallel", "2", "--max-queue", "1", "--ttft-ms", "600", "--itl-ms", "1")
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        assert ready, "the emulator did not report that it listens"
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", process.stdout.readline())
        assert match

        async def burst() -> list[int]:
            async with aiohttp.ClientSession() as http:
                replies = await asyncio.gather(
                    *(stream_chat(http, match.group(1), f"r{i}") for i in range(4))
                )
            return sorted(reply["status"] for reply in replies)

        # 2 slots + 1 waiting place: the fourth concurrent request is turned away
        assert asyncio.run(burst()) == [200, 200, 200, 503]
    finally:
        process.terminate()
        process.communicate(timeout=20)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--parallel", "0"), "argument --parallel: 0 is less than 1"),
        (("--max-queue", "-2"), "argument --max-queue: -2 is less than -1"),
        (("--parallel", "two"), "argument --parallel: 'two' is not an integer"),
        (("--batch-slowdown", "-1"), "argument --batch-slowdown: -1 is negative"),
    ],
)
def test_cli_rejects_bad_slot_values(
    args: tuple[str, ...], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--port", "0", *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
