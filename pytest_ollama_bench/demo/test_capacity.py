"""Capacity: how many requests at once the server serves, how fast, and still right.

A sweep over concurrency 1, 2 and 4 (a closed loop: that many requests always in flight), eight
requests per level after one warmup request. The demo's embedded llama.cpp engine has four
parallel slots (``ollama_embedded_parallel = 4`` in this suite's pytest.ini; Ollama's
``OLLAMA_NUM_PARALLEL``), so every level is served at once, batched. The summary prints a row
per level: requests/s, output tokens/s, TTFT and TPOT p50/p99, errors, goodput, and the level
where throughput stopped growing (saturation). Goodput counts only requests that met the SLO
and whose answer passed the check: fast *and* right.
"""

from __future__ import annotations

import pytest

from pytest_ollama_bench import OllamaBench
from pytest_ollama_bench import assert_contains_any

OPTIONS = {"temperature": 0, "seed": 42, "num_predict": 16, "repeat_penalty": 1.1}


def names_a_primary_colour(text: str) -> None:
    assert_contains_any(text, "red", "blue", "yellow")


# every request must succeed, and even at the highest level 99 % start answering within 10 s
@pytest.mark.llm_bench(gates={"error_rate": 0, "ttft_ms.p99": 10_000})
def test_capacity(ollama_bench: OllamaBench) -> None:
    sweep = ollama_bench.sweep(
        "Name one primary colour in one word.",
        concurrency=[1, 2, 4],
        requests=8,
        warmup=1,
        options=OPTIONS,
        slo={"ttft_ms": 3000},
        check=names_a_primary_colour,
    )
    assert [level.completed for level in sweep] == [8, 8, 8]
    assert sweep.level(4).max_in_flight == 4
    best = max(sweep, key=lambda level: level.request_throughput or 0)
    print(f"best: {best.request_throughput:.2f} req/s at concurrency {best.level:g}")
