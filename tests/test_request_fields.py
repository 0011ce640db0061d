"""Every request field of ``/api/chat`` and ``/api/generate`` passes through a benchmark call
(and maps to its OpenAI counterpart); tool calls are output, exposed and recorded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_ollama_bench.testing import FakeOllama

WEATHER = [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]

TOOLS_TEST = """
import pytest

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]}}}]

@pytest.mark.llm_bench(rounds=2, warmup=0)
def test_tools(ollama_bench):
    result = ollama_bench.chat("Weather in Paris?", tools=TOOLS)
    (call,) = result.tool_calls
    assert call["function"]["name"] == "get_weather"
    assert call["function"]["arguments"] == {"city": "Paris"}
    assert call["id"].startswith("call_")
    assert result.text == ""
    assert all(m.ttft_ms is not None for m in result.rounds)
"""


def bodies(fake: FakeOllama, path: str) -> list[dict[str, Any]]:
    return [r["body"] for r in fake.requests if r["path"] == path]


@pytest.mark.parametrize("api", ["native", "openai"])
def test_tool_calls_pass_through_count_as_output_and_are_recorded(
    pytester: pytest.Pytester, fake_ollama: FakeOllama, api: str
) -> None:
    fake_ollama.profile("llama3.2").tool_calls = WEATHER
    fake_ollama.profile("llama3.2").ttft_ms = 30
    pytester.makepyfile(TOOLS_TEST)
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", f"--ollama-api={api}",
        "--ollama-json=run.json",
    )  # fmt: skip
    result.assert_outcomes(passed=1)
    path = "/api/chat" if api == "native" else "/v1/chat/completions"
    sent = bodies(fake_ollama, path)
    assert len(sent) == 2
    assert sent[0]["tools"][0]["function"]["name"] == "get_weather"
    call = json.loads((pytester.path / "run.json").read_text())["cases"][0]["calls"][0]
    assert call["fields"]["tools"][0]["function"]["name"] == "get_weather"
    for measured in call["rounds"]:
        assert measured["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
        assert measured["ttft_ms"] >= 25  # the tool-call chunk is the first output


def test_every_generate_and_chat_field_reaches_the_server(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.add_model("coder", capabilities=("completion", "insert"))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(models=["coder"], rounds=1, warmup=0)
        def test_generate_fields(ollama_bench):
            ollama_bench.generate(
                "def add(a, b):", suffix="    return c", system="You write Python.",
                template="{{ .System }} {{ .Prompt }}", context=[1, 2, 3],
                images=["iVBORw0KGgo="], format="json", keep_alive="1m", think=False,
                truncate=True, shift=False, logprobs=True, top_logprobs=2,
                options={"temperature": 0},
            )

        @pytest.mark.llm_bench(models=["coder"], rounds=1, warmup=0)
        def test_chat_fields(ollama_bench):
            ollama_bench.chat(
                "hi", format={"type": "object"}, keep_alive=-1, think=False, truncate=False,
                shift=True, logprobs=True, top_logprobs=1, stream=True,
            )

        @pytest.mark.llm_bench(models=["coder"], rounds=1, warmup=0)
        def test_raw(ollama_bench):
            ollama_bench.generate("[INST] hi [/INST]", raw=True)
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}")
    result.assert_outcomes(passed=3)
    generate, raw = bodies(fake_ollama, "/api/generate")
    assert generate == {
        "model": "coder",
        "prompt": "def add(a, b):",
        "stream": True,
        "system": "You write Python.",
        "options": {"temperature": 0},
        "suffix": "    return c",
        "template": "{{ .System }} {{ .Prompt }}",
        "context": [1, 2, 3],
        "images": ["iVBORw0KGgo="],
        "format": "json",
        "keep_alive": "1m",
        "think": False,
        "truncate": True,
        "shift": False,
        "logprobs": True,
        "top_logprobs": 2,
    }
    assert raw["raw"] is True
    (chat,) = bodies(fake_ollama, "/api/chat")
    assert {k: chat[k] for k in ("format", "keep_alive", "think", "truncate", "shift")} == {
        "format": {"type": "object"},
        "keep_alive": -1,
        "think": False,
        "truncate": False,
        "shift": True,
    }
    assert (chat["logprobs"], chat["top_logprobs"]) == (True, 1)


def test_an_unknown_keyword_is_rejected_before_any_request_listing_the_valid_ones(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_typo(ollama_bench):
            ollama_bench.chat("Weather in Paris?", tool=[], temprature=0)
        """
    )
    result = pytester.runpytest(f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*TypeError: ollama_bench.chat() got unexpected keyword arguments 'tool' (did you "
            "mean 'tools'?), 'temprature' (did you mean options={'temperature': ...}?); valid "
            "keywords: system, options, rounds, warmup, model, check, output_tokens, and "
            "the /api/chat request fields stream, format, keep_alive, tools, think, truncate, "
            "shift, logprobs, top_logprobs"
        ]
    )
    assert bodies(fake_ollama, "/api/chat") == []


def test_openai_counterparts_and_fields_without_one(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.profile("llama3.2").thinking = "Looks like a picture."
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_mapped(ollama_bench):
            ollama_bench.chat(
                [{"role": "user", "content": "What is this?", "images": ["iVBORw0KGgo="]}],
                format="json", think="low", keep_alive="5m", logprobs=True, top_logprobs=3,
            )

        @pytest.mark.llm_bench(rounds=1, warmup=0)
        def test_no_counterpart(ollama_bench):
            ollama_bench.generate("def add(a, b):", suffix="    return c")
        """
    )
    result = pytester.runpytest(
        f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2", "--ollama-api=openai"
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ValueError: suffix='    return c' has no counterpart on an OpenAI-compatible "
            "server; leave it out, or benchmark Ollama's native API (--ollama-api native)"
        ]
    )
    (sent,) = bodies(fake_ollama, "/v1/chat/completions")  # nothing sent for the second
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["reasoning_effort"] == "low"
    assert (sent["logprobs"], sent["top_logprobs"]) == (True, 3)
    assert "keep_alive" not in sent
    assert sent["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
    ]
