"""Cold and warm starts, and busting the prompt cache, as policies on the marker and the command
line; the emulator's loading and unloading are what the policies rely on."""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import time
from typing import Any

import aiohttp
import pytest
from conftest import printed_table

from pytest_ollama_bench.testing import FakeOllama

COLD = """
import pytest

@pytest.mark.llm_bench(rounds=2, warmup=1{marker})
def test_start(ollama_bench):
    result = ollama_bench.chat("2+2?")
    assert len(result.rounds) == 2
"""


def record(pytester: pytest.Pytester) -> dict[str, Any]:
    data = json.loads((pytester.path / "run.json").read_text())
    assert isinstance(data, dict)
    return data


def paths(fake: FakeOllama) -> list[str]:
    out = []
    for r in fake.requests:
        body = r["body"] or {}
        unload = r["path"] == "/api/generate" and body.get("keep_alive") == 0
        out.append("unload" if unload else r["path"])
    return out


@pytest.mark.parametrize("where", ["marker", "option"])
def test_cold_start_unloads_and_waits_before_every_round(
    pytester: pytest.Pytester, where: str
) -> None:
    with FakeOllama(["llama3.2"], load_ms=200, unload_ms=150) as fake:
        marker = ', start="cold"' if where == "marker" else ""
        pytester.makepyfile(COLD.format(marker=marker))
        args = ["--ollama-start=cold"] if where == "option" else []
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-json=run.json",
            "--ollama-columns=ttft,load,rounds", *args,
        )  # fmt: skip
        sequence = paths(fake)
    result.assert_outcomes(passed=1)
    chats = [i for i, p in enumerate(sequence) if p == "/api/chat"]
    assert len(chats) == 2  # no warmup round under the cold policy
    for start, chat in zip([0, chats[0]], chats, strict=True):
        between = sequence[start:chat]
        assert "unload" in between
        assert "/api/ps" in between[between.index("unload") :]
    # after a round the model is loaded; /api/ps lists it while it unloads (unload_ms), and
    # the client polled until it did not
    second = sequence[chats[0] : chats[1]]
    assert second[second.index("unload") :].count("/api/ps") >= 2
    call = record(pytester)["cases"][0]["calls"][0]
    assert (call["start"], call["warmup_count"]) == ("cold", 0)
    assert all(m["load_ms"] >= 180 for m in call["rounds"])  # each round paid the whole load
    # the table's load column: the median of those rounds' load_ms
    loads = [m["load_ms"] for m in call["rounds"]]
    stats = record(pytester)["cases"][0]["stats"]
    assert stats["load_ms"]["median"] == pytest.approx(statistics.median(loads))
    (row,) = printed_table(result.stdout.lines, "::test_start (1 model)").values()
    assert row == {
        "ttft (ms)": f"{stats['ttft_ms']['median']:.1f}",
        "load (ms)": f"{stats['load_ms']['median']:.1f}",
        "rounds": "2",
    }
    assert float(row["load (ms)"]) >= 180
    if where == "option":
        assert record(pytester)["settings"]["start"] == "cold"


def test_warm_start_runs_warmup_first_and_measures_a_loaded_model(
    pytester: pytest.Pytester,
) -> None:
    with FakeOllama(["llama3.2"], load_ms=200) as fake:
        pytester.makepyfile(COLD.format(marker=""))
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-json=run.json"
        )
        assert "unload" not in paths(fake)
    result.assert_outcomes(passed=1)
    call = record(pytester)["cases"][0]["calls"][0]
    warmup, *measured = call["rounds"]
    assert call["start"] == "warm"
    assert warmup["warmup"]
    assert warmup["load_ms"] >= 180
    assert all(m["load_ms"] < 100 for m in measured)


def test_cold_start_needs_the_native_api(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(COLD.format(marker=', start="cold"'))
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", "--ollama-api=openai"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*start='cold' unloads the model before each round*native*"])
    assert not [r for r in fake_ollama.requests if r["path"] == "/v1/chat/completions"]


@pytest.mark.parametrize("policy", ["keep", "bust"])
def test_cache_bust_puts_a_unique_prefix_on_each_rounds_prompt(
    pytester: pytest.Pytester, policy: str
) -> None:
    with FakeOllama(["llama3.2"], prompt_cache=True) as fake:
        pytester.makepyfile(
            f"""
            import pytest

            @pytest.mark.llm_bench(rounds=3, warmup=1, cache="{policy}")
            def test_prefill(ollama_bench):
                ollama_bench.chat("Summarise the history of Rome in three sentences.",
                                  system="You are a historian.")
            """
        )
        result = pytester.runpytest(
            f"--ollama-host={fake.url}", "--ollama-models=llama3.2", "--ollama-json=run.json"
        )
        sent = [r["body"]["messages"] for r in fake.requests if r["path"] == "/api/chat"]
    result.assert_outcomes(passed=1)
    call = record(pytester)["cases"][0]["calls"][0]
    assert call["cache"] == policy
    measured = call["rounds"][1:]
    firsts = [messages[0]["content"] for messages in sent]
    if policy == "keep":
        assert len(set(firsts)) == 1
        assert all(m["prompt_cached_count"] == m["prompt_eval_count"] - 1 for m in measured)
    else:
        assert len(set(firsts)) == 4
        assert all(re.match(r"\[[0-9a-f]{12}\] You are a historian\.$", t) for t in firsts)
        # only the template's tokens before the first message are shared
        assert all(m["prompt_cached_count"] <= 12 for m in measured)
        assert all(m["prompt_eval_count"] > 20 for m in measured)


def test_bad_policies_are_usage_and_marker_errors(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--ollama-start=lukewarm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: --ollama-start: 'lukewarm' is not a valid value for --ollama-start (did you "
         "mean 'warm'?); expected one of warm, cold"]
    )  # fmt: skip
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(cache="flush")
        def test_bad(ollama_bench):
            pass
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*llm_bench(cache=...) must be one of 'keep', 'bust', got 'flush'*"]
    )


# --------------------------------------------------------------------------- the emulator


async def _ps_names(http: aiohttp.ClientSession, url: str) -> list[str]:
    async with http.get(f"{url}/api/ps") as resp:
        return [m["name"] for m in (await resp.json())["models"]]


def test_emulator_unloads_in_the_background_and_the_next_request_pays_the_load() -> None:
    async def go(url: str) -> tuple[list[str], list[str], list[str], int]:
        async with aiohttp.ClientSession() as http:
            chat = {"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}],
                    "stream": False}  # fmt: skip
            async with http.post(f"{url}/api/chat", json=chat) as resp:
                assert resp.status == 200
            loaded = await _ps_names(http, url)
            unload = {"model": "llama3.2", "keep_alive": 0}
            async with http.post(f"{url}/api/generate", json=unload) as resp:
                assert (await resp.json())["done_reason"] == "unload"
            unloading = await _ps_names(http, url)
            deadline = time.monotonic() + 5
            while await _ps_names(http, url) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            gone = await _ps_names(http, url)
            async with http.post(f"{url}/api/chat", json=chat) as resp:
                load_ns = (await resp.json())["load_duration"]
            return loaded, unloading, gone, load_ns

    with FakeOllama(["llama3.2"], load_ms=150, unload_ms=200) as fake:
        loaded, unloading, gone, load_ns = asyncio.run(go(fake.url))
    assert loaded == ["llama3.2:latest"]
    assert unloading == ["llama3.2:latest"]  # still listed while the runner stops
    assert gone == []
    assert load_ns >= 140_000_000
