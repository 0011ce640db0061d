"""``--ollama-timeout`` is a deadline for each whole record, not for each socket read: a server
that trickles its headers or a line a byte at a time is cut off when the record is late."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import ScriptedServer
from conftest import Step
from conftest import http_head

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.errors import ServerTimeoutError
from pytest_ollama_bench.models import Measurement
from pytest_ollama_bench.openai import OpenAIClient

Start = Callable[[dict[str, list[Step]]], ScriptedServer]
USER = [{"role": "user", "content": "hi"}]
TRICKLE_S = 0.08


def trickle(data: bytes) -> list[Step]:
    """``data`` one byte at a time, ``TRICKLE_S`` apart."""
    steps: list[Step] = []
    for i in range(len(data)):
        steps += [data[i : i + 1], TRICKLE_S]
    return steps


def line(content: str, done: bool = False) -> bytes:
    obj: dict[str, Any] = {"model": "m", "message": {"role": "assistant", "content": content}}
    obj["done"] = done
    if done:
        obj.update(done_reason="stop", eval_count=2, eval_duration=1_000_000)
    return json.dumps(obj).encode() + b"\n"


def timed(url: str, timeout: float, api: str = "native") -> tuple[float, BaseException | None]:
    async def go() -> Measurement:
        client_class = OllamaClient if api == "native" else OpenAIClient
        async with client_class(url, timeout=timeout) as client:
            return await client.chat("m", USER)

    start = time.perf_counter()
    try:
        asyncio.run(go())
    except Exception as exc:
        return time.perf_counter() - start, exc
    return time.perf_counter() - start, None


def test_trickled_headers_miss_the_first_record_deadline(scripted: Start) -> None:
    head = http_head()  # ~90 bytes: ~7 s at one byte per 80 ms
    server = scripted({"/api/chat": [*trickle(head), line("Hi"), line("", done=True)]})
    elapsed, error = timed(server.url, timeout=0.5)
    assert isinstance(error, ServerTimeoutError)
    assert error.phase == "first chunk"
    assert "no first chunk from" in str(error)
    assert "within 0.5 s" in str(error)
    assert elapsed < 3.0  # the deadline, not the trickle (a per-read timeout waited ~7 s)


def test_a_trickled_first_line_misses_the_first_record_deadline(scripted: Start) -> None:
    server = scripted({"/api/chat": [http_head(), *trickle(line("Hello there"))]})
    elapsed, error = timed(server.url, timeout=0.5)
    assert isinstance(error, ServerTimeoutError)
    assert error.phase == "first chunk"
    assert elapsed < 3.0


def test_a_trickled_next_record_misses_its_deadline(scripted: Start) -> None:
    steps = [http_head("text/event-stream"), b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n']
    steps += trickle(b'data: {"choices":[{"delta":{"content":" there, how are you"}}]}\n\n')
    server = scripted({"/v1/chat/completions": steps})
    elapsed, error = timed(server.url, timeout=0.5, api="openai")
    assert isinstance(error, ServerTimeoutError)
    assert error.phase == "next chunk"
    assert elapsed < 3.0


def test_records_in_time_pass_however_long_the_whole_answer_takes(scripted: Start) -> None:
    steps: list[Step] = [http_head()]
    for word in ("One", " two", " three", " four", " five"):
        steps += [0.25, line(word)]
    steps += [0.25, line("", done=True)]
    server = scripted({"/api/chat": steps})
    elapsed, error = timed(server.url, timeout=0.6)
    assert error is None
    assert elapsed > 1.2  # longer than the timeout: the deadline is per record


def test_the_plugin_fails_a_trickling_server_at_the_timeout(
    pytester: pytest.Pytester, scripted: Start
) -> None:
    tags = json.dumps({"models": [{"name": "m:latest", "model": "m:latest"}]}).encode()
    head = http_head().replace(b"\r\n\r\n", b"\r\nX-Pad: " + b"p" * 120 + b"\r\n\r\n")
    assert len(head) * TRICKLE_S > 16  # what a per-read timeout would wait
    server = scripted(
        {
            "/api/chat": [*trickle(head), line("Hi"), line("", done=True)],
            "/api/tags": [http_head("application/json"), tags],
        }
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_slow(ollama_bench):
            ollama_bench.chat("hi")
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={server.url}", "--ollama-models=m", "--ollama-timeout=1",
        "--ollama-json=run.json",
    )  # fmt: skip
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no first chunk from * for model 'm' within 1 s*"])
    (case,) = json.loads((pytester.path / "run.json").read_text())["cases"]
    # the test's call phase: the deadline (1 s), not the trickle (> 16 s), on a busy machine
    assert case["duration_s"] < 6.0
