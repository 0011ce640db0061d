"""Async tests: ``achat``/``agenerate`` await the stream on the test's own event loop."""

from __future__ import annotations

import pytest

from pytest_ollama_bench import OllamaBench
from pytest_ollama_bench import assert_max_words

OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 48, "repeat_penalty": 1.1}


@pytest.mark.llm_bench(rounds=2, warmup=1, options=OPTIONS)
@pytest.mark.asyncio
async def test_chat_and_generate_async(ollama_bench: OllamaBench) -> None:
    chat = await ollama_bench.achat("How much is two plus two? Respond in exactly one sentence.")
    raw = await ollama_bench.agenerate("Complete the sentence: Two plus two equals")
    for result in (chat, raw):
        assert result.text.strip()
        assert_max_words(result.text, 60)
        assert result.stats["ttft_ms"].median > 0
