"""One prompt, several models, one test: ``ollama_bench.compare``.

The models are the ones selected with --ollama-models (or the marker's ``models=``); they run
one after the other, so each is measured alone (``parallel=True`` would measure contention).
"""

from __future__ import annotations

from pytest_ollama_bench import OllamaBench

OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 32, "repeat_penalty": 1.1}


def test_compare_models(ollama_bench: OllamaBench) -> None:
    results = ollama_bench.compare(
        "Name one primary colour in one word.", options=OPTIONS, rounds=2, warmup=1
    )
    assert results, "no model answered"
    for model, result in results.items():
        assert result.text.strip(), f"{model} gave an empty answer"
        assert result.stats["total_ms"].n == 2
    fastest = min(results.values(), key=lambda r: r.stats["ttft_ms"].median)
    print(f"fastest first token: {fastest.model} ({fastest.stats['ttft_ms'].median:.1f} ms)")
