"""The demo suite shipped in the package, run the way the README says, against the emulator."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_ollama_bench.commands import DEMO_DIR as EXAMPLES
from pytest_ollama_bench.commands import demo_command
from pytest_ollama_bench.models import Report
from pytest_ollama_bench.testing import FakeOllama

BASE_INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"  # as tests/conftest.py


@pytest.fixture
def examples(pytester: pytest.Pytester) -> pytest.Pytester:
    for example in EXAMPLES.glob("test_*.py"):
        shutil.copy(example, pytester.path / example.name)
    return pytester


def test_examples_under_xdist_bring_every_record_to_the_controller(
    examples: pytest.Pytester, fake_ollama: FakeOllama
) -> None:
    result = examples.runpytest_subprocess(
        "-n", "2", f"--ollama-host={fake_ollama.url}", "--ollama-models=llama3.2,qwen2.5:0.5b",
        "--ollama-json=run.json",
    )  # fmt: skip
    result.assert_outcomes(passed=7)  # quickstart, async and capacity per model, one compare
    report = Report.model_validate_json((examples.path / "run.json").read_text())
    cases = {(c.nodeid.split("::")[-1], c.model) for c in report.cases}
    assert cases == {
        ("test_arithmetic_in_one_sentence[llama3.2]", "llama3.2"),
        ("test_arithmetic_in_one_sentence[qwen2.5:0.5b]", "qwen2.5:0.5b"),
        ("test_chat_and_generate_async[llama3.2]", "llama3.2"),
        ("test_chat_and_generate_async[qwen2.5:0.5b]", "qwen2.5:0.5b"),
        ("test_capacity[llama3.2]", "llama3.2"),
        ("test_capacity[qwen2.5:0.5b]", "qwen2.5:0.5b"),
        ("test_compare_models", "llama3.2"),
        ("test_compare_models", "qwen2.5:0.5b"),
    }
    # every round of every call reached the controller: warmup + measured, as the tests asked
    rounds = {
        (c.nodeid.split("::")[-1].split("[")[0], c.model): [len(k.rounds) for k in c.calls]
        for c in report.cases
    }
    assert rounds[("test_arithmetic_in_one_sentence", "llama3.2")] == [4]
    assert rounds[("test_chat_and_generate_async", "qwen2.5:0.5b")] == [3, 3]
    assert rounds[("test_compare_models", "llama3.2")] == [3]
    # the sweep's three levels of 8 requests, after one warmup request, in the record
    capacity = next(c for c in report.cases if c.nodeid.endswith("test_capacity[llama3.2]"))
    assert [(run.concurrency, run.completed) for run in capacity.load] == [(1, 8), (2, 8), (4, 8)]
    assert sum(len(run.requests) for run in capacity.load) == 25
    # and the workers' server requests match: 4 + 6 + 25 + 3 per model
    assert (
        len([r for r in fake_ollama.requests if r["path"] in ("/api/chat", "/api/generate")]) == 76
    )


@pytest.fixture
def emulator_command() -> Iterator[str]:
    command = [
        sys.executable, "-m", "pytest_ollama_bench.server", "--port", "0",
        "--model", "llama3.2", "--model", "qwen2.5:0.5b", "--ttft-ms", "5", "--itl-ms", "2",
    ]  # fmt: skip
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            assert line.startswith("Ollama emulator listening on http://127.0.0.1:"), line
            yield line.split(" on ", 1)[1].split(" ", 1)[0]
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_readme_commands_against_the_emulator_command(
    examples: pytest.Pytester, emulator_command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", emulator_command)
    result = examples.runpytest(
        "test_quickstart.py", "--ollama-models=llama3.2,qwen2.5:0.5b,mistral"
    )
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(
        [
            f"ollama-bench: host={emulator_command}, api=native,*",
            "llm_bench: test_quickstart.py::test_arithmetic_in_one_sentence (3 models, 1 skipped)",
            "*skipped: mistral (model 'mistral' not available on *; run: ollama pull mistral)",
        ]
    )


def test_the_demo_command_runs_the_shipped_suite_from_any_directory(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    """``python -m pytest_ollama_bench demo --models ...`` from a directory that is no clone
    (its own pytest.ini is ignored), with the emulator as "your Ollama"."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = --this-option-does-not-exist\n")
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.suffix in (".py", ".ini")) == [
        "pytest.ini", "test_async.py", "test_capacity.py", "test_compare.py",
        "test_quickstart.py",
    ]  # fmt: skip
    done = subprocess.run(
        # as on a plain pip install: neither pytest-asyncio nor anyio's plugin
        [sys.executable, "-m", "pytest_ollama_bench", "demo", "--models", "llama3.2", "--",
         "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "no:asyncio", "-p", "no:anyio",
         "-W", "error::pytest.PytestConfigWarning"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
        env={**os.environ, "COLUMNS": "80", "OLLAMA_HOST": fake_ollama.url},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "llm_bench: test_quickstart.py::test_arithmetic_in_one_sentence (1 model)" in (
        done.stdout
    )
    assert "4 passed" in done.stdout
    title = next(line for line in done.stdout.splitlines() if line.startswith("llm_bench load:"))
    assert "test_capacity [llama3.2] (3 runs" in title  # fits 80 columns
    assert len(title) <= 80
    runs = list((tmp_path / ".ollama-bench" / "runs").glob("0001_*.json"))  # here, not in
    assert len(runs) == 1  # the installed package
    assert not (EXAMPLES / ".ollama-bench").exists()
    assert demo_command(None, ["-v"])[3:] == [
        str(EXAMPLES), "-c", str(EXAMPLES / "pytest.ini"), "--rootdir", ".", "-p", "no:asyncio",
        "--ollama-embedded", "-v",
    ]  # fmt: skip
