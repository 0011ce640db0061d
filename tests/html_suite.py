"""The benchmark suite the HTML report tests run: passes, a gate miss, a failure, skips."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_ollama_bench.htmlreport import import_pygal
from pytest_ollama_bench.htmlreport.load import LoadLevel
from pytest_ollama_bench.htmlreport.load import LoadSeries
from pytest_ollama_bench.testing import FakeOllama

# pygal imports the importlib_metadata backport, which takes over distribution discovery from
# the standard library for the rest of the process (a sys.meta_path finder of its own). An
# in-process pytester run restores sys.meta_path afterwards but not that take-over, so a
# pygal first imported inside one would leave later runs without their entry-point plugins.
# Importing it here, before any run, keeps the process consistent.
import_pygal()

BENCH = """
import pytest

@pytest.mark.llm_bench(rounds=3, warmup=1, max_ttft_ms=100)
def test_arithmetic(ollama_bench):
    assert "4" in ollama_bench.chat("What is 2+2?").text

@pytest.mark.llm_bench(rounds=2, warmup=0, min_tokens_per_s=1,
                       gates={"total_ms.max": "< 60000", "eval_count": "> 0"})
def test_generate(ollama_bench):
    assert ollama_bench.generate("2+2=").text

@pytest.mark.llm_bench(rounds=1, warmup=0)
def test_wrong(ollama_bench):
    assert "5" in ollama_bench.chat("2+2?").text
"""

#: An answer with markup in it: the page must show it as text.
MARKUP_ANSWER = "4 <b>bold</b> & <script>alert(1)</script>"

MODELS = "--ollama-models=llama3.2,qwen2.5:0.5b,nope"


def setup_models(fake: FakeOllama, *, llama_ttft_ms: float = 150) -> None:
    """llama3.2 misses the 100 ms TTFT gate; qwen2.5:0.5b (5 ms: room for a busy machine's
    jitter, seen up to 30 ms) passes and answers with markup."""
    fake.profile("llama3.2").ttft_ms = llama_ttft_ms
    fake.profile("llama3.2").itl_ms = 2
    fake.profile("qwen2.5:0.5b").ttft_ms = 5
    fake.profile("qwen2.5:0.5b").itl_ms = 1
    fake.profile("qwen2.5:0.5b").response = MARKUP_ANSWER


def run_bench(pytester: pytest.Pytester, fake: FakeOllama, *args: str) -> pytest.RunResult:
    """Run :data:`BENCH` (written once) against ``fake`` with the three models."""
    if not (pytester.path / "test_bench.py").exists():
        pytester.makepyfile(test_bench=BENCH)
    return pytester.runpytest(f"--ollama-host={fake.url}", MODELS, *args)


def sweep(test: str = "test_capacity.py::test_sweep", model: str = "llama3.2") -> LoadSeries:
    """A concurrency sweep that saturates at 4 with a 2 s TTFT objective."""
    levels: Sequence[tuple[float, float, float, float]] = (
        (1, 1.9, 95.0, 310.0),
        (2, 3.6, 180.0, 420.0),
        (4, 6.1, 300.0, 980.0),
        (8, 6.4, 318.0, 2600.0),
    )
    return LoadSeries(
        test=test,
        model=model,
        axis="concurrency",
        levels=tuple(LoadLevel(c, rps, tps, p99, int(c == 8)) for c, rps, tps, p99 in levels),
        slo_ttft_ms=2000.0,
        saturation=4,
    )
