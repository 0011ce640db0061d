"""The quick start: one prompt, answered in one sentence, timed over warmup + rounds.

Run against your Ollama:      pytest test_quickstart.py --ollama-models=llama3.2,qwen2.5:0.5b
Run against a real local model with no Ollama at all (SmolLM2-135M on llama.cpp):
                              python -m pytest_ollama_bench demo
"""

from __future__ import annotations

import pytest

from pytest_ollama_bench import OllamaBench
from pytest_ollama_bench import assert_contains_any
from pytest_ollama_bench import assert_one_sentence

# temperature 0 and a fixed seed make the answer repeatable (a small model's answer varies a
# lot otherwise); num_predict caps its length; repeat_penalty pinned so that servers with other
# defaults sample the same way
OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 64, "repeat_penalty": 1.1}


@pytest.mark.llm_bench(rounds=3, warmup=1, options=OPTIONS, max_ttft_ms=3000, min_tokens_per_s=10)
def test_arithmetic_in_one_sentence(ollama_bench: OllamaBench) -> None:
    result = ollama_bench.chat("How much is two plus two? Respond in exactly one sentence.")
    assert_one_sentence(result.text)
    assert_contains_any(result.text, "4", "four")
