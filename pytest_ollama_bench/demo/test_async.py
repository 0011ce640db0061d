"""Async calls: ``achat``/``agenerate`` await the stream on the caller's event loop.

In your own suite, write ``async def`` tests with an async runner (pytest-asyncio's
``@pytest.mark.asyncio`` or anyio's ``@pytest.mark.anyio``). The demo drives its loop with
``asyncio.run`` so that it needs neither: it runs on a plain ``pip install``.
"""

from __future__ import annotations

import asyncio

import pytest

from pytest_ollama_bench import BenchResult
from pytest_ollama_bench import OllamaBench
from pytest_ollama_bench import assert_max_words

OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 48, "repeat_penalty": 1.1}


async def chat_then_generate(ollama_bench: OllamaBench) -> list[BenchResult]:
    chat = await ollama_bench.achat("How much is two plus two? Respond in exactly one sentence.")
    raw = await ollama_bench.agenerate("Complete the sentence: Two plus two equals")
    return [chat, raw]


@pytest.mark.llm_bench(rounds=2, warmup=1, options=OPTIONS)
def test_chat_and_generate_async(ollama_bench: OllamaBench) -> None:
    for result in asyncio.run(chat_then_generate(ollama_bench)):
        assert result.text.strip()
        assert_max_words(result.text, 60)
        assert result.stats["ttft_ms"].median > 0
