"""Numbers that stay true on real servers: prompt cache, empty replies, late trailers, the
client-side decode rate.

Each case is what a real Ollama or llama.cpp server sends: bytes from a server of the test's
own (:class:`ScriptedServer`) or the emulator's profiles, read by the clients and the plugin.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from conftest import ScriptedServer
from conftest import Step
from conftest import http_head

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.errors import ServerError
from pytest_ollama_bench.models import Measurement
from pytest_ollama_bench.openai import OpenAIClient
from pytest_ollama_bench.testing import FakeOllama

Start = Callable[[dict[str, list[Step]]], ScriptedServer]
USER = [{"role": "user", "content": "Why is the sky blue?"}]


def ndjson(*objs: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def chunk(content: str) -> dict[str, Any]:
    return {"model": "m", "message": {"role": "assistant", "content": content}, "done": False}


def done(**metrics: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "stop",
        **metrics,
    }


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(obj).encode() + b"\n\n"


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> bytes:
    d: dict[str, Any] = {} if content is None else {"content": content}
    return sse(
        {
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": d, "finish_reason": finish}],
            **extra,
        }
    )


def trailer(**extra: Any) -> bytes:
    return sse({"object": "chat.completion.chunk", "choices": [], **extra})


def native(url: str, model: str = "m", **kw: Any) -> Measurement:
    async def go() -> Measurement:
        async with OllamaClient(url, timeout=10) as client:
            return await client.chat(model, USER, **kw)

    return asyncio.run(go())


def openai(url: str, **kw: Any) -> Measurement:
    async def go() -> Measurement:
        async with OpenAIClient(url, timeout=10) as client:
            return await client.chat("m", USER, **kw)

    return asyncio.run(go())


# --------------------------------------------------------------------------- 1. native cache


def test_native_prefill_rate_counts_only_the_tokens_not_served_from_the_cache(
    scripted: Start,
) -> None:
    final = done(
        prompt_eval_count=800,
        prompt_eval_cached_count=790,
        prompt_eval_duration=5_000_000,
        eval_count=1,
        eval_duration=1_000_000,
    )
    server = scripted({"/api/chat": [http_head(), ndjson(chunk("Hi"), final)]})
    m = native(server.url)
    assert m.prompt_tokens_per_s == pytest.approx(2000.0)  # (800 - 790) / 5 ms, not 160,000
    assert m.prompt_eval_count == 800
    assert m.prompt_cached_count == 790
    assert m.prompt_cache_ratio == pytest.approx(790 / 800)


def test_without_a_cached_count_it_stays_null_and_every_prompt_token_counts(
    scripted: Start,
) -> None:
    final = done(prompt_eval_count=36, prompt_eval_duration=88_000_000, eval_count=1)
    server = scripted({"/api/chat": [http_head(), ndjson(chunk("Hi"), final)]})
    m = native(server.url)
    assert m.prompt_cached_count is None
    assert m.prompt_cache_ratio is None
    assert m.prompt_tokens_per_s == pytest.approx(36 / 0.088)


def test_emulator_prompt_cache_reports_the_repeated_prefix() -> None:
    with FakeOllama(["llama3.2"], prompt_cache=True, prefill_ms_per_token=1.0) as fake:
        first, second = (native(fake.url, "llama3.2") for _ in range(2))
    assert first.prompt_cached_count == 0
    assert second.prompt_eval_count == first.prompt_eval_count
    assert second.prompt_cached_count == second.prompt_eval_count - 1  # one token re-processed
    assert second.prompt_eval_ms is not None
    assert first.prompt_eval_ms is not None
    assert second.prompt_eval_ms < first.prompt_eval_ms
    for m in (first, second):
        processed = (m.prompt_eval_count or 0) - (m.prompt_cached_count or 0)
        assert m.prompt_tokens_per_s == pytest.approx(processed / (m.prompt_eval_ms / 1000))


def test_cached_count_and_cache_hit_columns_in_the_record_and_table(
    pytester: pytest.Pytester, scripted: Start
) -> None:
    final = done(
        prompt_eval_count=800,
        prompt_eval_cached_count=790,
        prompt_eval_duration=5_000_000,
        eval_count=2,
        eval_duration=2_000_000,
    )
    tags = json.dumps({"models": [{"name": "m:latest", "model": "m:latest"}]}).encode()
    answer = [http_head(), ndjson(chunk("Hi"), chunk("!"), final)]
    server = scripted({"/api/chat": answer, "/api/tags": [http_head("application/json"), tags]})
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_cached(ollama_bench):
            ollama_bench.chat("hi")
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={server.url}", "--ollama-models=m", "--ollama-json=run.json",
        "--ollama-columns=prompt_tps,prompt_tokens,cached_tokens,cache_hit",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*prompt tok/s*prompt tokens*cached tokens*cache hit*", "m * 2000.0 * 800 * 790 * 0.99"]
    )
    record = json.loads((pytester.path / "run.json").read_text())
    measured = record["cases"][0]["calls"][0]["rounds"][0]
    assert measured["prompt_cached_count"] == 790
    assert measured["prompt_tokens_per_s"] == pytest.approx(2000.0)


# --------------------------------------------------------------------------- 2. OpenAI cache


LLAMACPP_CACHED = {
    "usage": {
        "completion_tokens": 2,
        "prompt_tokens": 607,
        "total_tokens": 609,
        "prompt_tokens_details": {"cached_tokens": 606},
    },
    "timings": {
        "cache_n": 606,
        "prompt_n": 1,
        "prompt_ms": 21.7,
        "prompt_per_second": 46.08,
        "predicted_n": 2,
        "predicted_ms": 30.0,
    },
}


def test_openai_prefill_rate_is_llamacpps_own_with_its_prompt_cache(scripted: Start) -> None:
    stream = [
        http_head("text/event-stream"),
        delta("Blue"),
        delta("."),
        delta(finish="stop"),
        trailer(**LLAMACPP_CACHED),
        b"data: [DONE]\n\n",
    ]
    m = openai(scripted({"/v1/chat/completions": stream}).url)
    assert m.prompt_tokens_per_s == pytest.approx(46.08, rel=0.001)  # not ~28,000
    assert m.prompt_eval_count == 607
    assert m.prompt_cached_count == 606


def test_openai_cached_tokens_without_timings_are_recorded(scripted: Start) -> None:
    usage = {
        "completion_tokens": 2,
        "prompt_tokens": 100,
        "total_tokens": 102,
        "prompt_tokens_details": {"cached_tokens": 64},
    }
    stream = [
        http_head("text/event-stream"),
        delta("Blue"),
        delta(".", finish="stop"),
        trailer(usage=usage),
        b"data: [DONE]\n\n",
    ]
    m = openai(scripted({"/v1/chat/completions": stream}).url)
    assert m.prompt_cached_count == 64
    assert m.prompt_cache_ratio == pytest.approx(0.64)
    assert m.prompt_tokens_per_s is None  # no duration: never guessed


# --------------------------------------------------------------------------- 3. empty replies


LOAD_REPLY = ndjson(
    {
        "model": "m",
        "created_at": "2026-08-20T10:15:02.118431907Z",
        "message": {"role": "assistant", "content": ""},
        "done": True,
        "done_reason": "load",
    }
)


def test_a_load_reply_is_no_measurement(scripted: Start) -> None:
    server = scripted({"/api/chat": [http_head(), LOAD_REPLY]})
    with pytest.raises(ServerError) as info:
        native(server.url)
    assert info.value.kind == "empty_reply"
    assert getattr(info.value, "done_reason", None) == "load"
    assert "generated nothing" in str(info.value)
    assert "'load'" in str(info.value)


def test_a_reply_without_content_thinking_or_tool_call_fails_the_call_and_no_gate_passes(
    pytester: pytest.Pytester,
) -> None:
    with FakeOllama(["llama3.2"]) as fake:
        fake.profile("llama3.2").response = ""  # a stream with the final record only
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.llm_bench(rounds=2, warmup=0, max_total_ms=100000)
            def test_system_only(ollama_bench):
                ollama_bench.chat([{"role": "system", "content": "You are terse."}])
            """
        )
        result = pytester.runpytest(f"--ollama-host={fake.url}", "--ollama-models=llama3.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*chat call to 'llama3.2' failed after 0 completed round(s):*generated nothing*"
            "done_reason 'stop'*",
        ]
    )
    result.stdout.no_fnmatch_line("*✔*")


def test_a_load_reply_fails_the_test_and_shows_no_passed_gate(
    pytester: pytest.Pytester, scripted: Start
) -> None:
    tags = json.dumps({"models": [{"name": "m:latest", "model": "m:latest"}]}).encode()
    server = scripted(
        {"/api/chat": [http_head(), LOAD_REPLY], "/api/tags": [http_head("application/json"), tags]}
    )
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0, max_total_ms=100000)
        def test_load(ollama_bench):
            ollama_bench.chat([{"role": "system", "content": "You are terse."}])
        """
    )
    result = pytester.runpytest(f"--ollama-host={server.url}", "--ollama-models=m")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*generated nothing for model 'm' (done_reason 'load'*"])
    result.stdout.no_fnmatch_line("*✔*")


# --------------------------------------------------------------------------- 4. late trailers


def test_openai_late_usage_trailer_does_not_stretch_tpot(scripted: Start) -> None:
    steps: list[Step] = [http_head("text/event-stream")]
    for i in range(10):
        if i:
            steps.append(0.01)
        steps.append(delta(f" w{i}"))
    usage = {"completion_tokens": 10, "prompt_tokens": 5, "total_tokens": 15}
    steps += [delta(finish="stop"), 0.4, trailer(usage=usage), b"data: [DONE]\n\n"]
    m = openai(scripted({"/v1/chat/completions": steps}).url)
    assert m.ttft_ms is not None
    assert m.last_token_ms is not None
    assert m.tpot_ms is not None
    assert m.tpot_ms >= 9.0  # ≈ 10 ms
    assert m.tpot_ms == pytest.approx((m.last_token_ms - m.ttft_ms) / 9)
    assert m.total_ms >= m.last_token_ms + 390
    # the trailer's 400 ms are not spread over the tokens: (total - ttft) / 9 would be ≈ 54
    assert (m.total_ms - m.ttft_ms) / 9 - m.tpot_ms >= 390 / 9
    assert m.client_tokens_per_s == pytest.approx(1000 / m.tpot_ms)


def test_native_late_final_record_does_not_stretch_tpot(scripted: Start) -> None:
    steps: list[Step] = [http_head()]
    for i in range(10):
        if i:
            steps.append(0.01)
        steps.append(ndjson(chunk(f" w{i}")))
    steps += [0.4, ndjson(done(eval_count=10, eval_duration=90_000_000))]
    m = native(scripted({"/api/chat": steps}).url)
    assert m.tpot_ms is not None
    assert m.last_token_ms is not None
    assert m.tpot_ms >= 9.0
    assert m.total_ms >= m.last_token_ms + 390
    assert m.ttft_ms is not None
    assert (m.total_ms - m.ttft_ms) / 9 - m.tpot_ms >= 390 / 9


# --------------------------------------------------------------------------- 8. client rate


def test_openai_without_timings_gates_on_the_client_rate_and_says_so(
    pytester: pytest.Pytester,
) -> None:
    with FakeOllama(["llama3.2"], itl_ms=10) as fake:  # Ollama's /v1: usage, no timings
        pytester.makepyfile(
            """
            import pytest

            @pytest.mark.llm_bench(rounds=2, warmup=0, min_tokens_per_s=5)
            def test_rate(ollama_bench):
                r = ollama_bench.chat("2+2?")
                assert r.stats["client_tokens_per_s"].median > 5
                assert "tokens_per_s" not in r.stats
            """
        )
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-api=openai",
            "--ollama-json=run.json", "--ollama-columns=tps,client_tps,gate",
        )  # fmt: skip
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "llama3.2 *[0-9]c *[0-9] *✔",
            "llm_bench leaderboard*",
            "llama3.2 * 1 * 1 * 0 * 0 * 0 * [0-9.]* * [0-9.]*c * 1.00",  # its tok/s too
            "*tok/s = server decode rate (12.3c: client-side)*",
        ]
    )
    record = json.loads((pytester.path / "run.json").read_text())
    (gate,) = record["cases"][0]["gates"]
    assert gate["passed"] is True
    assert gate["metric"] == "client_tokens_per_s"
    assert gate["threshold"] == "min_tokens_per_s"
    assert "client-side rate" in gate["message"]


# --------------------------------------------------------------------------- real llama.cpp


def test_real_llamacpp_prefill_rate_is_its_own_prompt_per_second(scripted: Start) -> None:
    """llama.cpp's own server, prompt cache on (its default): each round's bytes replayed to the
    client, whose prefill rate must be llama.cpp's ``prompt_per_second`` (5 %)."""
    pytest.importorskip("xllamacpp")
    import aiohttp

    from pytest_ollama_bench.server.llamacpp import LlamaCppUnavailableError
    from pytest_ollama_bench.server.llamacpp import start_llamacpp_http_server

    try:
        server = start_llamacpp_http_server(None, 0, n_threads=1, cache_prompt=True)
    except LlamaCppUnavailableError as exc:
        pytest.skip(str(exc))
    body = {
        "model": "smollm2:135m",
        "messages": [{"role": "user", "content": "Name three colours of the rainbow. " * 4}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 3,
        "temperature": 0,
    }

    async def fetch() -> bytes:
        async with (  # a session per request: llama.cpp closes each connection
            aiohttp.ClientSession() as http,
            http.post(f"{server.url}/v1/chat/completions", json=body) as resp,
        ):
            return await resp.read()

    with server:
        answers = [asyncio.run(fetch()) for _ in range(2)]  # a miss, then a hit
    for number, raw in enumerate(answers):
        final = next(
            json.loads(line[6:]) for line in raw.decode().splitlines() if '"timings"' in line
        )
        replay = scripted({"/v1/chat/completions": [http_head("text/event-stream"), raw]})
        m = openai(replay.url)
        own = final["timings"]["prompt_per_second"]
        assert m.prompt_tokens_per_s == pytest.approx(own, rel=0.05)
        assert m.prompt_cached_count == final["timings"]["cache_n"]
        if number:
            assert m.prompt_cached_count == (m.prompt_eval_count or 0) - 1  # the hit
