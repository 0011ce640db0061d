"""Under pytest-xdist, workers take turns on the server so benchmarks do not compete."""

from __future__ import annotations

import itertools

import pytest

from pytest_ollama_bench.testing import FakeOllama

TESTS = """
import itertools

import pytest

@pytest.mark.llm_bench(rounds=2, warmup=0)
@pytest.mark.parametrize("n", range(3))
def test_sync(ollama_bench, n):
    ollama_bench.chat(f"sync {n}")

@pytest.mark.llm_bench(rounds=2, warmup=0)
@pytest.mark.parametrize("n", range(3))
@pytest.mark.asyncio
async def test_async(ollama_bench, n):
    await ollama_bench.achat(f"async {n}")
"""


def stream_spans(fake: FakeOllama) -> list[tuple[int, int]]:
    """(first line written, last line written) of every stream the server sent."""
    spans: dict[int, tuple[int, int]] = {}
    for seq, _line, t in fake.chunk_log:
        first, last = spans.get(seq, (t, t))
        spans[seq] = (min(first, t), max(last, t))
    return sorted(spans.values())


def test_workers_take_turns_on_one_server(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.record_timings = True
    fake_ollama.profile("llama3.2").ttft_ms = 15
    fake_ollama.profile("llama3.2").itl_ms = 10
    fake_ollama.profile("llama3.2").parallel = 8  # the server would stream to both at once
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2",
        "--ollama-no-save",
    )  # fmt: skip
    result.assert_outcomes(passed=6)
    spans = stream_spans(fake_ollama)
    assert len(spans) == 12  # 6 tests x 2 rounds
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start > end, "two workers streamed from the server at the same time"


def test_the_turns_can_be_switched_off(pytester: pytest.Pytester, fake_ollama: FakeOllama) -> None:
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2",
        "--ollama-no-serialize", "--ollama-no-save",
    )  # fmt: skip
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["ollama-bench: *, xdist workers overlap"])
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2",
        "--ollama-no-save",
    )  # fmt: skip
    result.stdout.fnmatch_lines(["ollama-bench: *, xdist workers take turns"])


def test_a_worker_that_waits_too_long_for_its_turn_fails_saying_so(
    pytester: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    fake_ollama.profile("llama3.2").itl_ms = 40  # each call holds the server for a while
    pytester.makepyfile(TESTS)
    result = pytester.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2",
        "--ollama-no-save", "--ollama-lock-timeout=0.1",
    )  # fmt: skip
    result.stdout.fnmatch_lines(
        ["*waited 0.1 s for another pytest-xdist worker's benchmark on http://127.0.0.1:*"
         "--ollama-lock-timeout*"]
    )  # fmt: skip
    assert result.ret == pytest.ExitCode.TESTS_FAILED
